"""CLI commands that drive the native lab (stub until implemented)."""

from __future__ import annotations

import click


@click.command()
def up() -> None:
    """Start the native lab."""
    raise click.ClickException("not implemented yet")


@click.command()
def down() -> None:
    """Stop the native lab."""


@click.command()
def status() -> None:
    """Show the lab's processes."""
