"""Every command of the ``asynclab`` CLI explains itself and is documented in the README."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from asynclab.cli import main
from asynclab.settings import ROOT

COMMANDS = sorted(main.commands)


def test_the_cli_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name: str) -> None:
    command = main.commands[name]
    assert isinstance(command, click.Command)
    assert command.help, f"{name} has no --help"
    assert len(command.help.split()) >= 5, f"{name} needs a real --help"
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_readme(name: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"(asynclab|make) {name}\b", readme), f"README does not mention {name}"
