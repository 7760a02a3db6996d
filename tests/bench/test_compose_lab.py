"""The bench in compose mode: settings and ports from .env, variants switched by the compose
script, service CPU recorded as null.

Here the "compose lab" is the session's native lab seen through a .env that names its ports,
and ``scripts/compose.sh`` is replaced by a stand-in that records its arguments, switches the
native lab's variant as ``compose.sh switch`` would, and runs the generator's command on this
machine where ``compose.sh generator`` runs it in a container (its container names become the
native lab's URLs). tests/engine runs the same bench on a real Docker engine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import free_ports

from asynclab.bench.cli import bench as bench_command
from asynclab.bench.compose_lab import LOAD_URLS, ComposeLab, compose_values
from asynclab.bench.matrix import Bench
from asynclab.bench.profiles import customise, get_profile
from asynclab.lab import Lab
from asynclab.procs import LabError
from asynclab.registry import SERVICES
from asynclab.settings import LabSettings

STAND_IN = """#!{python}
import json, os, signal, sys
from pathlib import Path
from asynclab.bench.compose_lab import LOAD_URLS
from asynclab.lab import Lab
from asynclab.settings import LabSettings

with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
recorded = json.loads((Path({state!r}) / "lab.json").read_text())["settings"]
settings = LabSettings.model_validate(recorded)
if sys.argv[1:2] == ["switch"]:
    if sys.argv[3] == "flask-gevent":  # as if its container never became healthy
        sys.exit("container flask-gevent is unhealthy")
    Lab(settings).switch(sys.argv[2], sys.argv[3])
elif sys.argv[1:2] == ["generator"]:
    name, out, rest = sys.argv[2], sys.argv[3], sys.argv[4:]
    split = rest.index("--")
    env = dict(os.environ, **dict(kv.split("=", 1) for kv in rest[:split]))
    env["LOCUST_METRICS_PORT"] = "0"  # not the container's port on this machine
    names = {{"/out": out, "python": sys.executable,
              **{{url: settings.service_url(name) for name, url in LOAD_URLS.items()}}}}
    argv = [arg for arg in rest[split + 1:]]
    for inside, here in names.items():
        argv = [here + a[len(inside):] if a.startswith(inside) else a for a in argv]
    Path({log!r}).with_name(name + ".pid").write_text(str(os.getpid()))
    os.execve(argv[0], argv, env)
elif sys.argv[1:2] == ["generator-pid"]:
    pid = Path({log!r}).with_name(sys.argv[2] + ".pid")
    if not pid.exists():
        sys.exit(1)
    print(pid.read_text(), "not-a-container-id")
elif sys.argv[1:2] == ["generator-stop"]:
    pid = Path({log!r}).with_name(sys.argv[2] + ".pid")
    if pid.exists():
        try:
            os.kill(int(pid.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass
"""


def port_lines(ports: list[int]) -> str:
    """``ASYNCLAB_FLASK_PORT=<port>`` and the like, one line per service."""
    return "".join(f"{s.port_env}={p}\n" for s, p in zip(SERVICES.values(), ports, strict=True))


def write_env(directory: Path, settings: LabSettings, **extra: str) -> None:
    lines = {
        "COMPOSE_PROFILES": ",".join(s.variant for s in SERVICES.values()),
        "BIND_ADDRESS": "127.0.0.1",
        **{s.port_env: str(settings.port(s.name)) for s in SERVICES.values()},
        "ASYNCLAB_WORKERS": str(settings.workers),
        "SERVICE_CPUS": "1.0",
        **extra,
    }
    (directory / ".env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))


def stand_in(tmp_path: Path, lab: Lab) -> tuple[list[str], Path]:
    log = tmp_path / "compose-calls.jsonl"
    script = tmp_path / "compose.sh"
    script.write_text(
        STAND_IN.format(python=sys.executable, log=str(log), state=str(lab.settings.state_dir))
    )
    script.chmod(0o755)
    return [str(script)], log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_values_follow_compose_precedence(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ASYNCLAB_FLASK_PORT=8001\nSERVICE_CPUS=1.0\nA=1\n")
    (tmp_path / ".env.local").write_text("ASYNCLAB_FLASK_PORT=9001\nA=2\n")
    values = compose_values(tmp_path, {"A": "3", "ASYNCLAB_WORKERS": "5", "OTHER": "x"})
    assert values == {
        "ASYNCLAB_FLASK_PORT": "9001",
        "SERVICE_CPUS": "1.0",
        "A": "3",
        "ASYNCLAB_WORKERS": "5",
    }


def test_settings_come_from_env_and_nothing_is_started(tmp_path: Path) -> None:
    ports = free_ports(len(SERVICES))
    (tmp_path / ".env").write_text(
        port_lines(ports) + "ASYNCLAB_WORKERS=2\n"
        "BIND_ADDRESS=0.0.0.0\nCOMPOSE_PROFILES=flask-gthread,fastapi-def,postgres\n"
    )
    lab = ComposeLab(LabSettings(), env_dir=tmp_path, environ={}, script=["false"])
    s = lab.settings
    assert [s.port(name) for name in SERVICES] == ports
    assert (s.workers, s.host, s.lab) == (2, "127.0.0.1", "compose")
    assert lab.served == {"flask": "flask-gthread", "fastapi": "fastapi-def"}
    # Nothing answers on those ports: the bench is told how to start the compose lab.
    assert lab.manifest() is None
    with pytest.raises(LabError, match=r"compose lab is not up.*make lab"):
        lab.up()


def test_manifest_and_switch(lab: Lab, tmp_path: Path) -> None:
    write_env(tmp_path, lab.settings)
    script, log = stand_in(tmp_path, lab)
    compose = ComposeLab(LabSettings(), env_dir=tmp_path, environ={}, script=script)
    manifest = compose.manifest()
    assert manifest is not None
    assert manifest["urls"] == {name: lab.settings.service_url(name) for name in SERVICES}
    assert manifest["processes"] == {}  # no pid to sample, so no CPU figure can be wrong
    assert manifest["variants"]["flask"]["name"] == "flask-sync"
    assert manifest["cpu_plan"]["services_pinned"] is False

    with pytest.raises(LabError, match="unhealthy"):
        compose.switch("flask", "flask-gevent")
    with pytest.raises(LabError, match="variant, not flask"):
        compose.switch("flask", "fastapi-def")
    assert compose.served["flask"] == "flask-sync"
    assert calls(log) == [["switch", "flask", "flask-gevent"]]


@pytest.mark.slow
def test_bench_in_compose_mode(lab: Lab, tmp_path: Path) -> None:
    """A real smoke matrix through ComposeLab: one switch there and one back, null service CPU."""
    write_env(tmp_path, lab.settings)
    script, log = stand_in(tmp_path, lab)
    compose = ComposeLab(LabSettings(), env_dir=tmp_path, environ={}, script=script)
    profile = customise(get_profile("smoke"), variants=["flask-gthread", "fastapi-async"])
    lines: list[str] = []
    try:
        set_dir = Bench(LabSettings(lab="compose"), profile, tmp_path / "results",
                        echo=lines.append, lab=compose).run()  # fmt: skip
    finally:
        served = (lab.manifest() or {}).get("variants", {}).get("flask", {}).get("name")
        if served != "flask-sync":
            lab.switch("flask", "flask-sync")
    switches = [c for c in calls(log) if c[0] == "switch"]
    assert switches == [["switch", "flask", "flask-gthread"], ["switch", "flask", "flask-sync"]]
    # Each Locust run went through `compose.sh generator`, aimed at the containers' names,
    # its files in the run's directory (mounted at /out), and was stopped afterwards.
    generators = [c for c in calls(log) if c[0] == "generator"]
    assert len(generators) == 2
    for call in generators:
        name, out, *rest = call[1:]
        command = rest[rest.index("--") + 1 :]
        assert command[:3] == ["python", "-m", "locust"]
        assert command[command.index("-H") + 1] in LOAD_URLS.values()
        assert command[command.index("--csv") + 1] == "/out/locust"
        assert (Path(out) / "locust_stats.csv").is_file()
        assert "LOCUST_METRICS_PORT=9647" in rest
        assert ["generator-stop", name] in calls(log)
    summary = json.loads((set_dir / "summary.json").read_text())
    assert summary["status"] == "complete", summary["errors"]
    assert {r["variant"] for r in summary["rows"]} == {"flask-gthread", "fastapi-async"}
    for row in summary["rows"]:
        assert row["rps"] > 0
        assert row["service_cpu_ms_per_request"] is None
        assert row["cpu_ceiling_rps"] is None
        # The stand-in's pid is in no container of that id: not sampled, never a wrong figure.
        assert row["generator_cpu"] is None
    manifest = json.loads((set_dir / "manifest.json").read_text())
    assert manifest["lab"]["mode"] == "compose"
    assert manifest["lab"]["started_by_bench"] is False
    assert any("not sample" in note for note in manifest["lab"]["notes"])
    assert manifest["cpu_plan"]["service_cpus"] == "1.0 per container"
    assert "locust-bench container" in manifest["cpu_plan"]["generator_plan"]


@pytest.mark.parametrize(("limit", "cores"), [("1.0", 1), ("1.5", 1), ("2.0", 2), ("0.5", 1)])
def test_the_generator_runs_in_its_container_under_generator_cpus(
    tmp_path: Path, limit: str, cores: int
) -> None:
    (tmp_path / ".env").write_text(
        port_lines(free_ports(len(SERVICES))) + f"GENERATOR_CPUS={limit}\n"
    )
    compose = ComposeLab(LabSettings(), env_dir=tmp_path, environ={}, script=["false"])
    lines: list[str] = []
    runner = Bench(LabSettings(lab="compose"), get_profile("quick"), tmp_path / "results",
                   echo=lines.append, lab=compose)  # fmt: skip
    # No taskset on this machine: the container's CPU quota is the budget; one Locust process
    # per whole core of it.
    assert (runner.plan.taskset, runner.plan.cpus, runner.plan.locust_processes) == (
        (), cores, cores
    )  # fmt: skip
    # wrk would run on this machine, outside the lab's network and GENERATOR_CPUS.
    assert runner.profile.wrk_check == ()
    assert any("skipping the Locust/wrk comparison" in line for line in lines)


def test_cli_says_when_the_compose_lab_is_down(tmp_path: Path) -> None:
    env_dir = tmp_path / "project"
    env_dir.mkdir()
    (env_dir / ".env").write_text(port_lines(free_ports(len(SERVICES))))
    result = CliRunner().invoke(
        bench_command,
        ["--profile", "smoke", "--results-dir", str(tmp_path / "results"), "--no-report"],
        env={"ASYNCLAB_LAB": "compose", "ASYNCLAB_ROOT": str(env_dir)},
    )
    assert result.exit_code == 1, result.output
    assert "compose lab is not up" in result.output
    assert "Traceback" not in result.output
