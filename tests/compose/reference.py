"""What compose.yaml must say for a reference service: a registry row with ``interface == "http"``,
its own server in an image without Python, so no ``asynclab serve`` computes its variants there.

Each variant's container runs ``Variant.command()`` with ``Variant.environment()`` as the native
runner would, for the settings compose has (``.env``, then the shell), inside the container's
network. compose.yaml writes each variable of that environment one of these ways:

- inherited from ``x-reference-env``, when the anchor is right for the variant, with ``.env``'s
  settings and with each setting changed alone;
- a lab setting passed on as it is, interpolated: ``SERVICE_WORKERS: ${ASYNCLAB_WORKERS}``;
- a value no setting changes, written out: ``SERVICE_WORKERS: "1"``;
- derived from settings in a way compose cannot compute (node-cluster's pools per worker), or
  ``GOMAXPROCS`` of a variant that runs Go code on every CPU it has (the whole CPUs of
  ``SERVICE_CPUS``): a variable of ``.env`` named after the variant and the key,
  ``NODE_CLUSTER_DB_POOL_SIZE``, which scripts/compose.sh checks before it starts anything.
"""

from __future__ import annotations

import functools
import math
import os
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from pydantic.fields import FieldInfo

from asynclab.registry import SERVICES, Service
from asynclab.settings import LabSettings
from asynclab.variants import VARIANTS, Variant
from tests.compose import model

# The ports inside the containers: the native defaults, whatever .env or the shell publish.
INSIDE = LabSettings.model_construct()
CONTAINER_HOST = "0.0.0.0"  # inside a container a service must listen beyond loopback
# x-serve-env's ASYNCLAB_SERVE_METRICS_DIR (test_consistency checks they agree).
METRICS_DIR = "/tmp/asynclab-metrics"
ANCHOR = "x-reference-env"


def reference_services() -> list[Service]:
    return [s for s in SERVICES.values() if not s.python]


def reference_variants() -> list[str]:
    return [name for name, v in VARIANTS.items() if not SERVICES[v.framework].python]


def python_variants() -> list[str]:
    return [name for name, v in VARIANTS.items() if SERVICES[v.framework].python]


def settings_of(values: dict[str, str]) -> LabSettings:
    """The lab settings that compose variables (.env and the shell) describe."""
    fields = {k[9:].lower(): v for k, v in values.items() if k.startswith("ASYNCLAB_")}
    return LabSettings.model_validate(fields)


def another_value(name: str, field: FieldInfo) -> str | None:
    """A valid value of the setting other than its default (None for paths)."""
    default = field.default
    if isinstance(default, bool):
        return str(not default).lower()
    if isinstance(default, int):
        high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
        return str(default + 1 if high is None or default < high else default - 1)
    if isinstance(default, float):
        return str(default * 2)
    if typing.get_origin(field.annotation) is typing.Literal:
        return next(str(a) for a in typing.get_args(field.annotation) if a != default)
    if isinstance(default, str):
        return default + "x"
    return None


def changed_settings() -> dict[str, str]:
    """Every lab setting set otherwise, as ``ASYNCLAB_*`` variables of the shell."""
    changed = {}
    for name, field in LabSettings.model_fields.items():
        value = another_value(name, field)
        if value is not None:
            changed[f"ASYNCLAB_{name.upper()}"] = value
    return changed


def whole_cpus(cpus: str) -> int:
    """The CPUs a container limited to ``cpus`` runs code on at once: 1.5 gives 2."""
    return max(1, math.ceil(float(cpus)))


@contextmanager
def cpus_available(count: int) -> Iterator[None]:
    """This process sees ``count`` CPUs (where the variant table counts them)."""
    with mock.patch.object(os, "sched_getaffinity", return_value=set(range(count))):
        yield


@functools.cache
def follows_the_cpus(name: str) -> bool:
    """Whether the variant's GOMAXPROCS is the CPUs it has (go-multi), not a constant."""
    variant = VARIANTS[name]
    unpinned = LabSettings.model_construct(pin_cpus=False)
    threads = []
    for count in (2, 8):
        with cpus_available(count):
            threads.append(variant.go_threads(unpinned))
    return threads[0] != threads[1]


def container_environment(variant: Variant, values: dict[str, str]) -> dict[str, str]:
    """``Variant.environment()`` for the settings of ``values``, inside the compose network;
    GOMAXPROCS of a variant that follows its CPUs: the whole CPUs of ``SERVICE_CPUS``."""
    s = settings_of(values)
    database = s.model_copy(update={"postgres_port": INSIDE.postgres_port})
    upstream = f"http://upstream:{INSIDE.upstream_port}"
    env = variant.environment(s, database.database_url(host="postgres"), upstream, METRICS_DIR)
    if "GOMAXPROCS" in env and follows_the_cpus(variant.name):
        env["GOMAXPROCS"] = str(whole_cpus(values["SERVICE_CPUS"]))
    return env


def container_command(variant: Variant) -> list[str]:
    return variant.command(INSIDE, "python", INSIDE.port(variant.framework), CONTAINER_HOST)


def derived_name(variant: Variant, key: str) -> str:
    """``.env``'s variable for what compose cannot compute: ``NODE_CLUSTER_DB_POOL_SIZE``."""
    return f"{variant.name.upper().replace('-', '_')}_{key.removeprefix('SERVICE_')}"


def probes(values: dict[str, str]) -> dict[str, dict[str, str]]:
    """``values`` with one setting changed, for each setting the environment may follow."""
    variants = {name: values | {name: value} for name, value in changed_settings().items()}
    variants["SERVICE_CPUS"] = values | {"SERVICE_CPUS": str(float(values["SERVICE_CPUS"]) + 1.5)}
    return variants


@functools.cache
def compose_environment(name: str) -> dict[str, str]:
    """The variables compose.yaml writes for variant ``name`` besides ``<<: *reference-env``,
    as written (``${ASYNCLAB_WORKERS}``, ``"1"``)."""
    variant = VARIANTS[name]
    env = model.env_file()
    anchor: dict[str, str] = model.raw()[ANCHOR]
    changed = probes(env)
    base = container_environment(variant, env)
    followed = {setting: container_environment(variant, v) for setting, v in changed.items()}
    cases = [(env, base), *((changed[setting], got) for setting, got in followed.items())]
    written: dict[str, str] = {}
    for key, value in base.items():
        if key in anchor and all(
            model.interpolate(anchor[key], values) == got[key] for values, got in cases
        ):
            continue
        depends = [setting for setting, got in followed.items() if got[key] != value]
        if key == "GOMAXPROCS" and follows_the_cpus(name):
            written[key] = f"${{{derived_name(variant, key)}}}"
        elif not depends:
            written[key] = value
        elif len(depends) == 1 and (
            value == env.get(depends[0])
            and followed[depends[0]][key] == changed[depends[0]][depends[0]]
        ):
            written[key] = f"${{{depends[0]}}}"
        else:
            written[key] = f"${{{derived_name(variant, key)}}}"
    return written


def derived_values(name: str, values: dict[str, str]) -> dict[str, str]:
    """``.env``'s variables for what compose cannot compute for variant ``name``, with the values
    the settings of ``values`` give them: ``{"NODE_CLUSTER_DB_POOL_SIZE": "10"}``."""
    variant = VARIANTS[name]
    environment = container_environment(variant, values)
    return {
        derived_name(variant, key): environment[key]
        for key, written in compose_environment(name).items()
        if written == f"${{{derived_name(variant, key)}}}"
    }


def all_derived_values(values: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in reference_variants():
        found |= derived_values(name, values)
    return found
