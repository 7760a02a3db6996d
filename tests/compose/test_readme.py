"""The README's Docker section and the Makefile name the same targets."""

from __future__ import annotations

import re

import pytest

from tests.compose import model

# What a user needs in both modes (native and compose): run, measure, report, test, look, clean.
REQUIRED = {"lab", "down", "bench", "report", "test", "logs", "clean"}


def docker_section() -> str:
    lines = (model.ROOT / "README.md").read_text().splitlines()
    for i, line in enumerate(lines):
        heading = re.match(r"(#+) .*\bDocker\b", line)
        if heading:
            level = len(heading[1])
            end = next(
                (j for j in range(i + 1, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[j])),
                len(lines),
            )
            return "\n".join(lines[i:end])
    pytest.fail("README.md has no section whose heading mentions Docker")


def makefile_targets() -> set[str]:
    text = (model.ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", text, re.M))


def test_every_make_target_the_docker_section_names_exists() -> None:
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", docker_section()))
    assert named, "the Docker section names no make target"
    assert named <= makefile_targets(), f"not in the Makefile: {named - makefile_targets()}"


def test_the_targets_of_both_modes_exist_and_are_documented() -> None:
    assert makefile_targets() >= REQUIRED, f"missing: {REQUIRED - makefile_targets()}"
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", docker_section()))
    assert named >= REQUIRED, f"the Docker section does not mention: {REQUIRED - named}"


def test_every_target_is_phony_and_described() -> None:
    text = (model.ROOT / "Makefile").read_text()
    phony = set(" ".join(re.findall(r"^\.PHONY: *(.*)$", text, re.M)).split())
    described = set(re.findall(r"^([A-Za-z][\w-]*):[^=\n]*## ", text, re.M))
    for target in makefile_targets():
        assert target in phony, f"{target} is not .PHONY"
        assert target in described, f"{target} has no '## description' for make help"
