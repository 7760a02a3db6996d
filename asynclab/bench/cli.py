"""CLI commands of the bench (stub until implemented)."""

from __future__ import annotations

import click


@click.command()
def bench() -> None:
    """Run the benchmark matrix."""
    raise click.ClickException("not implemented yet")


@click.command()
def report() -> None:
    """Build the report from results/latest."""
    raise click.ClickException("not implemented yet")
