"""The bench loads a service the lab did not start (``--target LABEL=URL``): checked first,
refused with a message, then measured with the same scenarios and report, and what the lab
cannot know of it recorded as null and said plainly.

The external target is one the tests start themselves, on loopback: the session lab's FastAPI,
seen only through its URL."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import free_port

from asynclab.bench import external
from asynclab.bench.cli import bench as bench_command
from asynclab.bench.compose_lab import ComposeLab
from asynclab.bench.profiles import Run, customise, get_profile
from asynclab.bench.scenarios import get_scenario
from asynclab.lab import Lab
from asynclab.settings import LabSettings
from asynclab.target import Target, TargetError, parse_target
from tests.test_target_check import speaks_ssh, tcp_server

TARGET = Target("fastapi", "http://10.0.0.5:8000")


def test_targets_alone_replace_the_profiles_variants_and_alternate_with_given_ones() -> None:
    alone = customise(get_profile("smoke"), targets=(TARGET,))
    assert alone.variants == ()
    assert alone.runs() == [Run("fastapi", "io_db", 2, 1, external=True)]
    assert alone.runs()[0].key == "io_db__fastapi__u2__r1"
    both = customise(get_profile("smoke"), variants=["flask-sync"], targets=(TARGET,))
    assert [(r.variant, r.external) for r in both.runs()] == [
        ("flask-sync", False), ("fastapi", True),
    ]  # fmt: skip
    assert both.to_json()["targets"] == ({"label": "fastapi", "url": "http://10.0.0.5:8000"},)


def test_an_external_ceiling_is_only_what_the_users_allow_where_the_wait_is_known() -> None:
    io_db = external.ceiling(get_scenario("io_db"), 8)
    assert io_db is not None
    assert (io_db.rps, io_db.kind) == (160, "users")
    assert io_db.note.startswith("8 users ÷ 0.05 s = 160 rps")
    for name in ("cpu_python", "fanout", "db"):
        assert external.ceiling(get_scenario(name), 8) is None, name
    assert external.CPU_NOT_MEASURED in external.no_ceiling_reason(get_scenario("cpu_python"))
    assert "at once or one after the other" in external.no_ceiling_reason(get_scenario("fanout"))


def invoke(args: list[str], settings: LabSettings) -> tuple[int, str]:
    """``asynclab bench`` in this process, with ``settings`` as its environment."""
    env = {f"ASYNCLAB_{name.upper()}": str(value)
           for name, value in settings.model_dump(mode="json").items()
           if name.endswith("_port") or name == "state_dir"}  # fmt: skip
    result = CliRunner().invoke(bench_command, args, env=env)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture
def settings(lab_settings_factory: Callable[..., LabSettings]) -> LabSettings:
    """Settings of a lab that is not running: the bench must not need one for a target."""
    return lab_settings_factory()


def test_an_unusable_target_is_refused_before_any_load(
    settings: LabSettings, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    base = ["--profile", "smoke", "--results-dir", str(results)]
    code, output = invoke([*base, "--target", "fastapi=tcp://127.0.0.1:9000"], settings)
    assert code == 2
    assert "Invalid value for '--target'" in output
    assert "not an HTTP URL (tcp://)" in output

    port = free_port()
    code, output = invoke([*base, "--target", f"fastapi=http://127.0.0.1:{port}"], settings)
    assert code == 1
    assert output.strip() == (
        f"Error: cannot reach http://127.0.0.1:{port}: connection refused: is the service "
        f"running, on that port? (--target fastapi=http://127.0.0.1:{port})"
    )
    with tcp_server(speaks_ssh) as port:
        code, output = invoke([*base, "--target", f"ssh=http://127.0.0.1:{port}"], settings)
    assert code == 1
    assert f"http://127.0.0.1:{port} does not speak HTTP" in output
    assert not results.exists(), "a refused target leaves no result set"
    assert Lab(settings).manifest() is None


@pytest.mark.slow
def test_a_target_alone_is_measured_and_reported_without_a_lab(
    lab: Lab, settings: LabSettings, tmp_path: Path
) -> None:
    url = lab.settings.service_url("fastapi")
    results = tmp_path / "results"
    code, output = invoke(["--profile", "smoke", "--target", f"fastapi={url}",
                           "--results-dir", str(results)], settings)  # fmt: skip
    assert code == 0, output
    assert f"external target fastapi={url}: GET /healthz answered 200" in output
    assert Lab(settings).manifest() is None, "no lab was started for an external target"

    set_dir = results / "latest"
    (row,) = json.loads((set_dir / "summary.json").read_text())["rows"]
    assert (row["variant"], row["framework"], row["external"]) == (None, "fastapi", True)
    assert (row["target_label"], row["target_url"]) == ("fastapi", url)
    assert row["rps"] > 0
    assert isinstance(row["generator_cpu"], float)
    # 2 users on /io/db?ms=50: at most 40 rps whatever the service, and nothing more known.
    assert (row["ceiling_rps"], row["ceiling_kind"]) == (40.0, "users")
    assert row["slot_ceiling_rps"] is None
    for unknown in ("service_cpu_ms_per_request", "cpu_ceiling_rps", "service_cores",
                    "service_cpus_busy", "infra_cpu", "service_rss_mib"):  # fmt: skip
        assert row[unknown] is None, unknown

    manifest = json.loads((set_dir / "manifest.json").read_text())
    (target,) = manifest["targets"]
    assert (target["label"], target["url"], target["answer"]["status"]) == ("fastapi", url, 200)
    assert manifest["variants"] == {}
    assert manifest["cpu_plan"]["service_cpus"] is None
    assert manifest["postgres"] == {"source": "not used: external targets only"}
    assert manifest["lab"]["notes"] == [external.NO_LAB]
    report = (set_dir / "report.md").read_text()
    assert f"External target fastapi at {url}, not started by the lab" in report
    assert external.CPU_NOT_MEASURED in report
    assert "No lesson could be judged: this set measured external targets only." in report
    assert "| fastapi (external) | 2 |" in report
    assert "Not measured: this set loaded external targets only" in report  # startup times


STAND_IN = """#!{python}
import os, sys
# scripts/compose.sh generator NAME OUT [VAR=VALUE...] -- COMMAND: run COMMAND here.
command = sys.argv[sys.argv.index("--") + 1:]
os.execv({python!r}, [{python!r}, *command[1:]])
"""


def test_in_compose_mode_the_target_is_checked_from_a_generator_container(
    lab: Lab, tmp_path: Path
) -> None:
    script = tmp_path / "compose.sh"
    script.write_text(STAND_IN.format(python=sys.executable))
    script.chmod(0o755)
    (tmp_path / ".env").write_text("SERVICE_CPUS=1.0\n")
    compose = ComposeLab(LabSettings(), env_dir=tmp_path, environ={}, script=[str(script)])
    answer = compose.check_target(parse_target(f"fastapi={lab.settings.service_url('fastapi')}"))
    assert answer.status == 200
    port = free_port()
    with pytest.raises(TargetError) as refused:
        compose.check_target(parse_target(f"fastapi=http://127.0.0.1:{port}"))
    assert str(refused.value) == (
        f"cannot reach http://127.0.0.1:{port}: connection refused: is the service running, on "
        "that port? (checked from the lab's generator container)"
    )
