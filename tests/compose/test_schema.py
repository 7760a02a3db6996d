"""compose.yaml is a valid Compose file, and refuses to run without the secrets it needs."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.compose import model


def test_compose_file_validates_against_the_compose_specification() -> None:
    if not model.SCHEMA_FILE.is_file():
        pytest.fail(
            f"the Compose schema is missing: {model.SCHEMA_FILE}. The tests expect the shared/ "
            "folder beside the repository (as CI clones it), with schemas/compose-spec.json."
        )
    schema = json.loads(model.SCHEMA_FILE.read_text())
    jsonschema.Draft7Validator(schema).validate(model.load())


def test_every_variable_is_set_by_the_env_file() -> None:
    model.load()  # raises MissingVariable naming the first one that is not


def test_compose_refuses_to_start_without_a_grafana_password() -> None:
    env = model.env_file()
    assert "GRAFANA_ADMIN_PASSWORD" not in env, ".env is committed: no password may be in it"
    with pytest.raises(model.MissingVariable, match="GRAFANA_ADMIN_PASSWORD"):
        model.interpolate(model.raw(), env)


def test_an_empty_grafana_password_is_refused_too() -> None:
    with pytest.raises(model.MissingVariable, match="GRAFANA_ADMIN_PASSWORD"):
        model.load({"GRAFANA_ADMIN_PASSWORD": ""})


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("x:${A}:y", {"A": "1"}, "x:1:y"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:-d}", {}, "d"),
        ("$$A", {"A": "1"}, "$A"),
        ("$A/b", {"A": "1"}, "1/b"),
    ],
)
def test_interpolation_follows_the_compose_rules(
    text: str, env: dict[str, str], expected: str
) -> None:
    assert model.interpolate(text, env) == expected
