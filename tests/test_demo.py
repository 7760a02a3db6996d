"""``asynclab demo --short``: a real, short run of the three acts against a lab of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PORT_FIELDS
from helpers import free_ports, processes_mentioning

pytestmark = pytest.mark.slow

WAIT_S = 0.05  # /pitfall/blocking?ms=50 and /io/db?ms=50


def test_demo_short_tells_the_three_lessons(
    tmp_path: Path, new_state_dir: Callable[[], Path]
) -> None:
    state = new_state_dir()
    ports = free_ports(len(PORT_FIELDS))
    env = {
        **os.environ,
        **{
            f"ASYNCLAB_{name.upper()}": str(port)
            for name, port in zip(PORT_FIELDS, ports, strict=True)
        },
        "ASYNCLAB_STATE_DIR": str(state),
    }
    out = tmp_path / "out"
    asynclab = Path(sys.executable).with_name("asynclab")
    done = subprocess.run(
        [str(asynclab), "demo", "--short", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not processes_mentioning(str(state)), "the demo left processes of its lab running"

    acts = json.loads((out / "demo.json").read_text())["acts"]
    assert [a["lesson"] for a in acts] == ["cpu", "io", "pitfall"]
    cpu, io, pitfall = acts
    assert abs(cpu["ratio"] - 1) <= 0.25, f"CPU-bound work should tie: {cpu}"
    assert io["ratio"] >= 5, f"async should win I/O-bound work at least 5x: {io}"
    blocking = pitfall["variants"]
    assert blocking["fastapi-async"]["rps"] < blocking["flask-sync"]["rps"], pitfall
    one_loop = 1 / WAIT_S
    assert abs(blocking["fastapi-async"]["rps"] - one_loop) <= 0.2 * one_loop, pitfall

    assert io["outcome"] == "win"
    assert pitfall["outcome"] == "loss"
    for act in acts:
        assert f"Act {act['act']}." in done.stdout
        for chart in act["charts"]:
            assert Path(chart).stat().st_size > 10_000, chart
    if shutil.which("prometheus"):
        assert done.stdout.count("marked on the Grafana dashboards") == 3, done.stdout[-3000:]
