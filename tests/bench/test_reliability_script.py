"""scripts/bench_reliability.py end to end, at the smallest size: one real lab, one round.

The figures of so short a run mean nothing; the test checks that Postgres really went away and
came back (both services saw it), that durability was measured with synchronous_commit on and
off, and that Ctrl-C in the middle of an outage stops everything the script started.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from asynclab.settings import ROOT

SCRIPT = "scripts/bench_reliability.py"
SMALL = ["--variants", "flask-sync", "fastapi-async", "--clients", "2", "--warmup", "1",
         "--after", "2", "--duration", "1", "--users", "2"]  # fmt: skip


def test_one_round_is_measured_and_written(tmp_path: Path) -> None:
    out = tmp_path / "reliability.json"
    done = subprocess.run(
        [sys.executable, SCRIPT, *SMALL, "--outages", "1", "--repeats", "1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "outage of 1 s" in done.stdout
    assert "synchronous_commit=on  run 1" in done.stdout
    assert "synchronous_commit=off run 1" in done.stdout
    document = json.loads(out.read_text())
    assert (document["interrupted"], document["failure"]) == (False, None)
    assert document["cpu_plan"]["generator_plan"]
    assert {o["variant"] for o in document["outages"]} == {"flask-sync", "fastapi-async"}
    for outage in document["outages"]:
        # Both services saw the database go and come back, and answered nothing but 200 or 503.
        assert outage["unavailable_503"] > 0, outage
        assert outage["readyz_503_after_ms"] is not None, outage
        assert outage["readyz_200_after_ms"] is not None, outage
        assert outage["recovered_after_ms"] is not None, outage
        assert outage["ok_after_recovery"] > 0, outage
        assert outage["other_answers"] == [], outage
        assert isinstance(outage["missed_targets"], list)
    cells = document["durability"]
    assert set(cells) == {f"{v} {r}" for v in ("flask-sync", "fastapi-async")
                          for r in ("updates", "items")}  # fmt: skip
    for cell in cells.values():
        for mode in ("on", "off"):
            assert len(cell[mode]["rps"]) == 1
            assert cell[mode]["rps"][0] > 0
            assert cell[mode]["errors"] == 0
        assert isinstance(cell["cost_percent"], float)


def test_ctrl_c_during_an_outage_stops_the_load_and_the_lab(tmp_path: Path) -> None:
    out = tmp_path / "reliability.json"
    proc = subprocess.Popen(
        [sys.executable, SCRIPT, *SMALL, "--outages", "60", "--repeats", "0", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lab_processes: list[psutil.Process] = []
    lines: list[str] = []
    try:
        for line in proc.stdout:  # bounded: the script prints a few lines, then this one
            lines.append(line)
            if "Postgres stopped for 60 s" in line:
                break
        lab_processes = psutil.Process(proc.pid).children(recursive=True)
        assert lab_processes, "".join(lines)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            for leftover in lab_processes:  # what the killed script could not stop
                with contextlib.suppress(psutil.Error):
                    leftover.kill()
    assert proc.returncode == 130, "".join(lines) + rest
    assert "interrupted" in rest
    assert "Traceback" not in rest
    assert json.loads(out.read_text())["interrupted"] is True
    assert not [p for p in lab_processes if p.is_running() and p.status() != "zombie"]
