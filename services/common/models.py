"""Validation rules both services apply, as pydantic models: one definition, identical errors."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator
from pydantic_core import PydanticCustomError

from services.common.work import clamp_queries

MAX_BODY_BYTES = 64 * 1024
# A body refused for its size is still read, this far, before the answer: the answer keeps the
# connection alive, and a server left to discard the rest itself may give up (gunicorn's gthread
# past 64 KiB, granian) and close the connection under the client's next request. Past it the
# connection may be lost: a bound, so that a refusal stays cheap.
DISCARD_LIMIT_BYTES = 1024 * 1024
# The longest wait one request may ask for, in total: /io/db and /io/upstream wait `ms`, and
# /fanout's sequential variants wait `calls` x `ms`. Far below gunicorn's worker timeout (120 s,
# services/gunicorn.conf.py), so that no accepted request can get its worker killed.
MAX_WAIT_MS = 5000
# Postgres refuses the NUL character in text (and asyncpg's error looks like an outage), so text
# that goes to the database must not hold one. The pattern tells the OpenAPI document; the
# validator enforces it with a message a person can act on.
NO_NUL = r"^[^\x00]*$"


def _without_nul(text: str) -> str:
    if "\x00" in text:
        raise PydanticCustomError(
            "string_contains_nul",
            "String should not contain the NUL character (\\u0000): the database cannot store it",
        )
    return text


# After the length rules, so that those keep pydantic's own messages.
NUL_FREE = AfterValidator(_without_nul)
NUL_FREE_DOC = Field(json_schema_extra={"pattern": NO_NUL})


def _integral_float(value: object) -> object:
    # JSON has numbers, not ints and floats: 3.0 is the integer 3 (JSON Schema says so too).
    # Anything else goes on to the strict int check: 1.5 and "3" stay errors.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral_float)]


class Queries(BaseModel):
    """TechEmpower's rule, which refuses nothing: a non-integer or missing value is 1, and any
    other is clamped to 1..500."""

    queries: Annotated[int, PlainValidator(clamp_queries)] = 1


class WorkPython(BaseModel):
    work: int = Field(default=100_000, ge=1, le=10_000_000, description="LCG steps (~80 ns each)")


class WorkNative(BaseModel):
    work: int = Field(default=40_000, ge=1, le=1_000_000, description="PBKDF2 iterations")


class Wait(BaseModel):
    ms: int = Field(default=50, ge=0, le=MAX_WAIT_MS, description="Milliseconds to wait")


class Fanout(BaseModel):
    """Each bound alone, here; their product, ``calls`` x ``ms`` <= MAX_WAIT_MS, in
    ``services.common.errors.within_wait_budget`` (one error naming both parameters)."""

    calls: int = Field(default=5, ge=1, le=50, description="Independent upstream calls")
    ms: int = Field(default=50, ge=0, le=MAX_WAIT_MS, description="Milliseconds each call waits")


class ItemId(BaseModel):
    id: int = Field(ge=1, le=2**31 - 1)


Tag = Annotated[str, Field(min_length=1, max_length=50), NUL_FREE, NUL_FREE_DOC]


class ItemIn(BaseModel):
    # Strict: "5" is not a quantity and unknown keys are mistakes, not extensions.
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(min_length=1, max_length=100), NUL_FREE, NUL_FREE_DOC]
    price: float = Field(gt=0, allow_inf_nan=False)
    quantity: JsonInt = Field(ge=0, le=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=10)
