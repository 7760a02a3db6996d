"""The lab knows its own processes across a step of the system clock, and still never signals
a process that only got one of their pids.

psutil gives a process' start as an epoch time built on the boot time, which /proc/stat states
in whole seconds of the current clock: when the clock is stepped (NTP, a VM syncing its clock)
every start time moves with it. A suite run saw it happen: the lab took its own processes for
strangers, ``status`` called them dead, ``switch`` found the old port taken and ``down`` left
them running.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from helpers import pid_alive

from asynclab.procs import ProcessRecord, is_ours, since_boot, stop_process
from asynclab.settings import LabSettings


@pytest.fixture
def sleeper() -> Iterator[psutil.Process]:
    """A process in a group of its own, as the lab starts them."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        yield psutil.Process(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def record_of(
    proc: psutil.Process, *, clock_step_s: float, boot_start_off_s: float = 0.0
) -> ProcessRecord:
    """The record the lab wrote for ``proc`` before the clock was stepped by ``clock_step_s``."""
    return ProcessRecord(
        "sleeper", proc.pid, proc.create_time() - clock_step_s, ["sleep", "60"], "sleeper.log",
        boot_start=since_boot(proc) + boot_start_off_s,
    )  # fmt: skip


@pytest.mark.parametrize("clock_step_s", [-1.0, 1.0, 3600.0])
def test_a_process_stays_ours_when_the_clock_is_stepped(
    sleeper: psutil.Process, tmp_path: Path, clock_step_s: float
) -> None:
    record = record_of(sleeper, clock_step_s=clock_step_s)
    assert is_ours(record)
    assert stop_process(record, LabSettings(state_dir=tmp_path))
    assert not pid_alive(sleeper.pid)


def test_a_process_that_only_has_the_pid_is_never_signalled(
    sleeper: psutil.Process, tmp_path: Path
) -> None:
    # Same pid, started at another time: the recorded process is gone and its pid reused.
    record = record_of(sleeper, clock_step_s=0.0, boot_start_off_s=-5.0)
    assert not is_ours(record)
    assert not stop_process(record, LabSettings(state_dir=tmp_path))
    assert pid_alive(sleeper.pid)


def test_a_record_written_before_boot_start_existed_is_matched_by_its_start_time(
    sleeper: psutil.Process,
) -> None:
    legacy = ProcessRecord.from_json(
        {"name": "sleeper", "pid": sleeper.pid, "create_time": sleeper.create_time(),
         "argv": ["sleep", "60"], "log": "sleeper.log"}
    )  # fmt: skip
    assert legacy.boot_start is None
    assert is_ours(legacy)
