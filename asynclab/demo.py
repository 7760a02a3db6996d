"""The three-act conference demo (stub until implemented)."""

from __future__ import annotations

import click


@click.command()
def demo() -> None:
    """Run the three-act demo."""
    raise click.ClickException("not implemented yet")
