"""``asynclab serve VARIANT --port N``: run one service in the foreground, as the native runner
would start it.

The command line and environment come from ``asynclab/variants.py`` (``Variant.command`` and
``Variant.environment``) and the settings, exactly as ``asynclab.lab.Lab`` builds them; then
this process becomes the server (``exec``), so that a container's PID 1 is gunicorn or uvicorn
and receives its stop signal. ``upstream`` serves the slow upstream the same way.

compose.yaml runs every service container this way (``python -m asynclab.serve fastapi-async
--port 8002``), naming only the variant: pool sizes, worker classes and process counts are
computed here from the ``ASYNCLAB_*`` settings, never written down twice. The addresses that
differ in a container (the bind address, the database and the upstream, the metrics directory)
are options, each also read from an ``ASYNCLAB_SERVE_*`` variable.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from pydantic import ValidationError

from asynclab.settings import LabSettings
from asynclab.variants import VARIANTS, get_variant

UPSTREAM = "upstream"
NAMES = [*VARIANTS, UPSTREAM]


@dataclass(frozen=True)
class ServePlan:
    """What to exec: the argv, the variables added to the environment, the working directory."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    metrics_dir: Path | None


def serve_plan(
    name: str,
    port: int,
    settings: LabSettings,
    *,
    host: str | None = None,
    database_url: str | None = None,
    upstream_url: str | None = None,
    metrics_dir: Path | None = None,
    python: str = sys.executable,
) -> ServePlan:
    """The native runner's command and environment for ``name`` on ``port``.

    Without the keyword options every address is the native lab's (``settings.host``, its
    Postgres and upstream, ``<state_dir>/metrics/<framework>``). ValueError for an unknown name.
    """
    s = settings
    if name == UPSTREAM:
        # asynclab.lab pulls in the whole runner: only the upstream needs its command line.
        from asynclab.lab import upstream_command

        argv = upstream_command(s, python, port, host)
        return ServePlan(argv, {"PYTHONUNBUFFERED": "1"}, s.root, None)
    variant = get_variant(name)
    metrics = metrics_dir or s.state_dir / "metrics" / variant.framework
    env = variant.environment(
        s, database_url or s.database_url(), upstream_url or s.upstream_url, str(metrics)
    )
    argv = variant.command(s, python, port, host)
    return ServePlan(argv, {"PYTHONUNBUFFERED": "1", **env}, s.root, metrics)


def fresh_metrics_dir(path: Path) -> None:
    """prometheus_client's multiprocess files of an earlier run would add to the new counts.

    Only its ``*.db`` files go: the directory may be a mount point (a tmpfs in compose)."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def _settings() -> LabSettings:
    try:
        return LabSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"ASYNCLAB_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        )
        raise click.ClickException(f"invalid setting: {problems}") from None


@click.command()
@click.argument("name", metavar="VARIANT", type=click.Choice(NAMES))
@click.option("--port", required=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--host",
    envvar="ASYNCLAB_SERVE_HOST",
    help="Address to bind (default: ASYNCLAB_HOST, 127.0.0.1; 0.0.0.0 in a container).",
)
@click.option(
    "--database-url",
    envvar="ASYNCLAB_SERVE_DATABASE_URL",
    help="Postgres URL (default: the native lab's, from the ASYNCLAB_POSTGRES_* settings).",
)
@click.option(
    "--upstream-url",
    envvar="ASYNCLAB_SERVE_UPSTREAM_URL",
    help="The slow upstream's base URL (default: the native lab's).",
)
@click.option(
    "--metrics-dir",
    envvar="ASYNCLAB_SERVE_METRICS_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="prometheus_client's multiprocess directory (default: <state dir>/metrics/<framework>).",
)
def serve(
    name: str,
    port: int,
    host: str | None,
    database_url: str | None,
    upstream_url: str | None,
    metrics_dir: Path | None,
) -> None:
    """Run one service variant (or the upstream) in the foreground, as the lab starts it.

    The command and environment are the native runner's, from asynclab/variants.py and the
    ASYNCLAB_* settings; compose.yaml runs each service container this way.

    Example: asynclab serve flask-gthread --port 8001
    """
    plan = serve_plan(
        name,
        port,
        _settings(),
        host=host,
        database_url=database_url,
        upstream_url=upstream_url,
        metrics_dir=metrics_dir,
    )
    if plan.metrics_dir is not None:
        fresh_metrics_dir(plan.metrics_dir)
    os.chdir(plan.cwd)
    sys.stdout.flush()
    os.execvpe(plan.argv[0], plan.argv, {**os.environ, **plan.env})


if __name__ == "__main__":
    serve()
