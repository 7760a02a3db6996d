"""CLI commands that drive the native lab: ``asynclab up``, ``down`` and ``status``."""

from __future__ import annotations

import signal
import textwrap
from types import FrameType
from typing import Any

import click
from pydantic import ValidationError

from asynclab.lab import Lab, LabError
from asynclab.procs import describe_cpu_plan, log_tail
from asynclab.registry import SERVICES
from asynclab.settings import LabSettings

# What `up` prints, in this order, when the process runs: (manifest url key, label).
URL_LABELS = [
    *((s.name, s.label) for s in SERVICES.values()),
    ("upstream", "Upstream"),
    ("postgres", "Postgres"),
    ("prometheus", "Prometheus"),
    ("grafana", "Grafana"),
    ("postgres-exporter", "Postgres exporter"),
    ("node-exporter", "Node exporter"),
]


def _lab() -> Lab:
    try:
        settings = LabSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"ASYNCLAB_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        )
        raise click.ClickException(f"invalid setting: {problems}") from None
    return Lab(settings, echo=lambda line: click.echo(line, err=True))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def format_urls(manifest: dict[str, Any]) -> str:
    urls: dict[str, str] = manifest["urls"]
    variants: dict[str, dict[str, Any]] = manifest["variants"]
    labels = dict(URL_LABELS)
    names = [key for key, _ in URL_LABELS if key in urls]
    names += sorted(set(urls) - set(names))
    lines = []
    for name in names:
        label = labels.get(name, name)
        variant = variants.get(name)
        suffix = f"  ({variant['name']})" if variant else ""
        lines.append(f"  {label + ':':<19}{urls[name]}{suffix}")
    return "\n".join(lines)


@click.command()
def up() -> None:
    """Start the native lab in the background and print its URLs.

    Starts a private Postgres cluster (in the state dir), loads db/init.sql, starts the slow
    upstream and both services, waits until each answers, prints the URLs and returns; the
    lab keeps running until `asynclab down`. If anything fails, whatever was started is
    stopped again. On a lab that is already running, it restarts whatever of it has died
    (and says so) and leaves the rest running. Every port and path comes from ASYNCLAB_*
    variables (defaults: Flask 8001, FastAPI 8002, upstream 8003, Postgres 55432, state dir
    .state), for example:

    \b
        ASYNCLAB_FLASK_PORT=9001 ASYNCLAB_FLASK_VARIANT=flask-gthread asynclab up
    """
    lab = _lab()
    # `kill` or a timeout cleans up like Ctrl-C does, instead of leaving a half-started lab.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        manifest = lab.up()
    except LabError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("The lab is up:")
    click.echo(format_urls(manifest))
    click.echo(f"CPU plan: {describe_cpu_plan(manifest['cpu_plan'])}.")
    for skipped in manifest["skipped"]:
        click.echo(f"Skipped {skipped['name']}: {skipped['reason']}")
    click.echo(f"Logs: {lab.settings.logs_dir}. Stop it with `asynclab down` (or `make down`).")


@click.command(short_help="Stop everything `asynclab up` started.")
def down() -> None:
    """Stop everything `asynclab up` started. Safe to run twice, or after a crash.

    Only processes recorded in the state dir (lab.json and pids/) are stopped, and only
    while they are still the processes that were started. Example:

    \b
        ASYNCLAB_STATE_DIR=/tmp/lab2 asynclab down
    """
    lab = _lab()
    try:
        stopped = lab.down()
    except LabError as exc:
        raise click.ClickException(str(exc)) from None
    if stopped:
        click.echo(f"Stopped: {', '.join(stopped)}.")
    else:
        click.echo(f"Nothing was running (state dir {lab.settings.state_dir}).")


@click.command(short_help="Show what is running and where.")
def status() -> None:
    """Show the lab's processes: name, pid, port, URL and whether each is alive.

    For a process that died it shows the end of its log and how to bring it back (`asynclab
    up` restarts what is missing and leaves the rest running). Exits with 1 when a recorded
    process is no longer running. Example:

    \b
        asynclab status
    """
    lab = _lab()
    rows = lab.status()
    if not rows:
        click.echo(f"The lab is not running (state dir {lab.settings.state_dir}).")
        return
    table = [("NAME", "PID", "PORT", "URL", "ALIVE")]
    for row in rows:
        port = str(row.port) if row.port else "-"
        alive = "yes" if row.alive else "NO"
        table.append((row.name, str(row.pid), port, row.url or "-", alive))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    manifest = lab.manifest()
    if manifest is not None:
        click.echo(f"CPU plan: {describe_cpu_plan(manifest['cpu_plan'])}.")
    dead = [row for row in rows if not row.alive]
    for row in dead:
        click.echo(f"\n{row.name} is not running (pid {row.pid} is gone). End of {row.log}:")
        click.echo(textwrap.indent(log_tail(row.log or "", lines=5), "    "))
    if manifest is None:
        click.echo(
            "\nlab.json is missing: the lab did not finish starting or stopping. "
            "Run `asynclab down` to stop what remains, then `asynclab up`."
        )
    elif dead:
        names = ", ".join(row.name for row in dead)
        click.echo(
            f"\nRun `asynclab up` (or `make up`) to restart {names}; the rest keeps running."
        )
    else:
        return
    raise click.exceptions.Exit(1)
