"""The ``asynclab`` command: a thin CLI over the library. ``asynclab --help`` lists the commands."""

from __future__ import annotations

import click

from asynclab.lab_cli import down, status, up


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """asynclab: measure where async matters in Python web services.

    Settings come from ASYNCLAB_* environment variables (see asynclab/settings.py).
    """


main.add_command(up)
main.add_command(down)
main.add_command(status)
