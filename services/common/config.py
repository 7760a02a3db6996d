"""Service configuration from ``SERVICE_*`` environment variables; required values fail fast."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The registry alone, which imports nothing but the standard library: not the lab's runner.
from asynclab.registry import get_service


class ServiceConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore")

    name: str  # a row of asynclab/registry.py
    variant: str
    handlers: Literal["sync", "async", "def"] = "sync"
    database_url: str
    upstream_url: str
    db_pool_size: int = Field(default=10, ge=1)
    http_pool_size: int = Field(default=100, ge=1)
    def_threads: int = Field(default=40, ge=1)
    statement_timeout_ms: int = Field(default=30_000, ge=100)
    connect_timeout_s: float = Field(default=3.0, gt=0)
    metrics_enabled: bool = True

    @field_validator("name")
    @classmethod
    def _known_service(cls, name: str) -> str:
        return get_service(name).name


def load_config() -> ServiceConfig:
    """Read the environment, or stop with one line per missing or invalid variable."""
    try:
        return ServiceConfig()  # type: ignore[call-arg,unused-ignore]  # from the environment
    except ValidationError as exc:
        lines = [
            f"SERVICE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        ]
        raise SystemExit("invalid service configuration:\n  " + "\n  ".join(lines)) from None
