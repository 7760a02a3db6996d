"""CLI commands of the bench: ``asynclab bench`` runs the matrix, ``asynclab report`` draws it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from asynclab.bench.profiles import PROFILES, customise, get_profile
from asynclab.procs import LabError
from asynclab.settings import LabSettings
from asynclab.target import TargetError, parse_targets

# Exit codes of ``asynclab bench`` beyond click's own: 130 as a shell reports Ctrl-C.
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _names(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _ints(text: str | None) -> list[int] | None:
    names = _names(text)
    try:
        return [int(n) for n in names] if names else None
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from None


@click.command()
@click.option(
    "--profile",
    "profile_name",
    type=click.Choice(list(PROFILES)),
    default="quick",
    show_default=True,
    help="quick: the demo (<4 min); full: every scenario, 3 reps; servers: gunicorn, uvicorn "
    "and granian on /json, /db, /io/db; parity: FastAPI against Node and Go on five routes.",
)
@click.option("--scenarios", help="Comma-separated scenarios instead of the profile's.")
@click.option("--variants", help="Comma-separated variants instead of the profile's.")
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="LABEL=URL",
    help="A service the lab did not start, loaded with the same scenarios (repeatable), e.g. "
    "fastapi=http://10.0.0.5:8000: the label names its framework in the report. Checked "
    "first: http or https, reachable, answers HTTP. Alone, it replaces the profile's variants "
    "and no lab is started; with --variants both are measured.",
)
@click.option("--users", help="Comma-separated concurrency levels for every scenario.")
@click.option("--repetitions", type=click.IntRange(1, 100), help="Runs per cell.")
@click.option("--duration", type=click.FloatRange(0.5), help="Measured seconds per run.")
@click.option("--warmup", type=click.FloatRange(0), help="Warm-up seconds per run (discarded).")
@click.option(
    "--wrk-check/--no-wrk-check",
    default=None,
    help="Repeat /io/db and /cpu/python runs with wrk to compare with Locust.",
)
@click.option(
    "--calibrate/--no-calibrate",
    default=None,
    help="Measure the generator's ceiling first (default: as the profile says).",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where result sets go (default: results/ in the project).",
)
@click.option(
    "--report/--no-report",
    "make_report",
    default=True,
    show_default=True,
    help="Build the report at the end.",
)
def bench(
    profile_name: str,
    scenarios: str | None,
    variants: str | None,
    targets: tuple[str, ...],
    users: str | None,
    repetitions: int | None,
    duration: float | None,
    warmup: float | None,
    wrk_check: bool | None,
    calibrate: bool | None,
    results_dir: Path | None,
    make_report: bool,
) -> None:
    """Run the benchmark matrix headless and build the report.

    Starts the native lab when it is not running (and stops it again), runs each scenario x
    variant x users x repetition with Locust, and writes results/<timestamp>/ (results/latest
    once it is complete). Ctrl-C keeps the finished runs, marks the set incomplete and exits
    with 130; a failed run exits with 1. With ASYNCLAB_LAB=compose (scripts/compose.sh bench)
    it measures the compose lab instead. With --target alone it loads that service, which the
    lab did not start, from the generator's CPUs and starts no lab.

    Examples:

    \b
        asynclab bench --profile quick --variants flask-sync,fastapi-async
        asynclab bench --target fastapi=http://10.0.0.5:8000 --scenarios io_db --users 8,64
    """
    from asynclab.bench.matrix import Bench

    try:
        external = parse_targets(targets)
    except TargetError as exc:
        raise click.BadParameter(str(exc), param_hint="'--target'") from None
    try:
        profile = customise(
            get_profile(profile_name),
            scenarios=_names(scenarios),
            variants=_names(variants),
            users=_ints(users),
            repetitions=repetitions,
            duration_s=duration,
            warmup_s=warmup,
            wrk_check=wrk_check,
            calibrate=calibrate,
            targets=external,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    settings = LabSettings()
    started = time.monotonic()
    try:
        runner = Bench(settings, profile, results_dir or settings.root / "results", echo=click.echo)
        set_dir = runner.run()
    except TargetError as exc:
        given = f" (--target {exc.target.text})" if exc.target else ""
        raise click.ClickException(f"{exc}{given}") from None
    except LabError as exc:
        raise click.ClickException(str(exc)) from None
    if make_report:
        _build_report(set_dir)
    click.echo(f"bench finished in {time.monotonic() - started:.0f} s: {set_dir}")
    from asynclab.bench.results import SUMMARY, read_json

    status = read_json(set_dir / SUMMARY)["status"]
    if status == "interrupted":
        sys.exit(EXIT_INTERRUPTED)
    if status != "complete":
        click.echo(f"the set is {status}: see the errors in {set_dir / SUMMARY}", err=True)
        sys.exit(EXIT_FAILED)


def _build_report(set_dir: Path) -> None:
    from asynclab.bench.report import build_report

    outputs = build_report(set_dir)
    for verdict in outputs.verdicts:
        click.echo(f"  {verdict}")
    click.echo(f"report: {outputs.html}")


@click.command()
@click.option(
    "--results",
    "results",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A result set, or the results directory (its latest set is used).",
)
def report(results: Path | None) -> None:
    """Build the report (HTML, Markdown, PNG and SVG charts) of a result set.

    Reads only summary.json and manifest.json; writes report.html, report.md and charts/
    into the set. Example: asynclab report --results results/latest
    """
    from asynclab.bench.results import resolve_set

    target = results or LabSettings().root / "results"
    try:
        set_dir = resolve_set(target)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    _build_report(set_dir)
