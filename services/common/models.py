"""Validation rules both services apply, as pydantic models: one definition, identical errors."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_BODY_BYTES = 64 * 1024


class WorkPython(BaseModel):
    work: int = Field(default=100_000, ge=1, le=10_000_000, description="LCG steps (~80 ns each)")


class WorkNative(BaseModel):
    work: int = Field(default=40_000, ge=1, le=1_000_000, description="PBKDF2 iterations")


class Wait(BaseModel):
    ms: int = Field(default=50, ge=0, le=5000, description="Milliseconds to wait")


class Fanout(BaseModel):
    calls: int = Field(default=5, ge=1, le=50, description="Independent upstream calls")
    ms: int = Field(default=50, ge=0, le=5000, description="Milliseconds each call waits")


class ItemId(BaseModel):
    id: int = Field(ge=1, le=2**31 - 1)


Tag = Annotated[str, Field(min_length=1, max_length=50)]


class ItemIn(BaseModel):
    # Strict: "5" is not a quantity and unknown keys are mistakes, not extensions.
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=100)
    price: float = Field(gt=0, allow_inf_nan=False)
    quantity: int = Field(ge=0, le=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=10)
