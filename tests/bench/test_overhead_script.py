"""scripts/bench_metrics_overhead.py end to end, at the smallest size: one real lab, one pair.

The figures of so short a run mean nothing; the test checks that the service really is
restarted with metrics on and off, and that the result says what was measured and how.
Where a Ctrl-C lands is up to the scheduler, so what each landing leaves behind (half a pair)
is also given to ``summarise`` directly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import psutil
import pytest

from asynclab.settings import ROOT

SCRIPT = "scripts/bench_metrics_overhead.py"
# A bound on a run of the script that only a hang reaches: it starts a lab of its own and
# measures for seconds, which took up to 140 s on a busy machine (2 cores, 5 test suites).
PROCESS_BOUND_S = 480


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_metrics_overhead", ROOT / SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


overhead = load_script()


def test_an_interruption_between_the_two_sides_of_a_pair_keeps_the_whole_pairs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What a Ctrl-C leaves when it lands after a pair's "on" side was recorded, before its "off".
    run = overhead.Measured
    runs = {
        "flask json": {
            "on": [run(90.0, 0.5, ()), run(80.0, 0.5, ())],
            "off": [run(100.0, 0.5, ())],
        },
        "fastapi json": {"on": [run(90.0, 0.5, ())], "off": []},
    }
    summary = overhead.summarise(runs)
    assert list(summary) == ["flask json"]
    cell = summary["flask json"]
    assert cell["on"] == [90.0]
    assert cell["off"] == [100.0]
    assert cell["pair_overheads_percent"] == pytest.approx([10.0])
    overhead.print_summary(summary)
    assert "flask json" in capsys.readouterr().out


def test_an_interruption_before_the_first_whole_pair_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = overhead.Measured
    summary = overhead.summarise({"flask json": {"on": [run(90.0, 0.5, ())], "off": []}})
    assert summary == {}
    overhead.print_summary(summary)
    out = capsys.readouterr().out
    assert "no whole on/off pair was measured" in out
    assert "met in every cell" not in out


@pytest.mark.timeout(PROCESS_BOUND_S + 60)
@pytest.mark.parametrize(
    ("design", "generator"), [("corun", "wrk"), ("sequential", "wrk"), ("sequential", "locust")]
)
def test_one_pair_per_cell_is_measured_and_written(
    tmp_path: Path, design: str, generator: str
) -> None:
    out = tmp_path / "overhead.json"
    done = subprocess.run(
        [sys.executable, SCRIPT, "--design", design, "--generator", generator,
         "--scenarios", "json", "--frameworks", "flask", "--repeats", "1", "--duration", "1",
         "--warmup", "0", "--users", "4", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=PROCESS_BOUND_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "metrics on  run 1" in done.stdout
    assert "metrics off run 1" in done.stdout
    assert "target: at most 5%" in done.stdout
    document = json.loads(out.read_text())
    assert document["settings"]["generator"] == generator
    assert document["settings"]["design"] == design
    assert document["cpu_plan"]["generator_plan"]
    cell = document["results"]["flask json"]
    assert len(cell["on"]) == len(cell["off"]) == len(cell["pair_overheads_percent"]) == 1
    assert min(cell["on"] + cell["off"]) > 0
    assert isinstance(cell["within_target"], bool)


def test_corun_with_locust_is_refused_with_the_way_out() -> None:
    done = subprocess.run(
        [sys.executable, SCRIPT, "--generator", "locust"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--design corun needs --generator wrk" in done.stderr
    assert "--design sequential" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(PROCESS_BOUND_S + 60)
def test_ctrl_c_stops_the_lab_and_keeps_the_pairs_done(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    proc = subprocess.Popen(
        [sys.executable, SCRIPT, "--scenarios", "json", "--frameworks", "flask", "--repeats",
         "50", "--duration", "1", "--warmup", "0", "--users", "4", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lab_processes: list[psutil.Process] = []
    try:
        lines = []
        for line in proc.stdout:  # bounded: the script prints a line per run
            lines.append(line)
            if "metrics off run 1:" in line:  # one pair done, the next one under way
                break
        lab_processes = [p for p in psutil.Process(proc.pid).children(recursive=True)]
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
    document = json.loads(out.read_text())
    assert document["interrupted"] is True
    assert len(document["results"]["flask json"]["pair_overheads_percent"]) >= 1
    assert not [p for p in lab_processes if p.is_running() and p.status() != "zombie"]
