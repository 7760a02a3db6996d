"""The ``asynclab`` command: a thin CLI over the library. ``asynclab --help`` lists the commands."""

from __future__ import annotations

import click

from asynclab.bench.cli import bench, report
from asynclab.demo import demo
from asynclab.lab_cli import down, status, up
from asynclab.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """asynclab: measure where async matters in Python web services.

    Settings come from ASYNCLAB_* environment variables (see asynclab/settings.py).
    """


for command in (up, down, status, bench, report, demo):
    main.add_command(command)
# One service in the foreground, as compose's containers run it (asynclab/serve.py).
main.add_command(serve)
