"""compose.yaml as Docker Compose sees it, without an engine: YAML, merge keys, then ``.env``.

Interpolation follows the Compose Specification for the forms compose.yaml uses:
``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?message}``, ``${VAR?message}``
and ``$$`` for a literal ``$``. For example with ``{"PORT": "8001"}``,
``"127.0.0.1:${PORT}"`` becomes ``"127.0.0.1:8001"``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
ENV_FILE = ROOT / ".env"
# CI clones the repository with shared/ beside it.
SCHEMA_FILE = ROOT.parent / "shared" / "schemas" / "compose-spec.json"

# What `make lab` supplies from .env.local; compose itself refuses to run without it.
SECRETS = {"GRAFANA_ADMIN_PASSWORD": "test-only-password"}

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(Exception):
    """A ``${VAR:?message}`` whose variable is unset or empty: compose stops with ``message``."""


def env_file() -> dict[str, str]:
    return {k: v or "" for k, v in dotenv_values(ENV_FILE, interpolate=False).items()}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Substitute variables in every string of ``value`` (dicts and lists recursively)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-"):
            return arg if unset else str(current)
        if op in (":?", "?"):
            if unset:
                raise MissingVariable(f"{name}: {arg}")
            return str(current)
        if current is None:
            raise MissingVariable(f"{name} is not set (compose would use an empty string)")
        return current

    return _VARIABLE.sub(substitute, value)


def raw() -> dict[str, Any]:
    """compose.yaml after YAML parsing (merge keys resolved), before interpolation."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def load(extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml with .env and ``extra_env`` (the shell, which wins) substituted."""
    env = env_file() | SECRETS | (extra_env or {})
    data = interpolate(raw(), env)
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    services = load()["services"]
    assert isinstance(services, dict)
    return services


def long_running(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every service of the lab runs until stopped (none is a one-shot job)."""
    return {name: s for name, s in services.items() if s.get("restart") != "no"}
