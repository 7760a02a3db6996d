"""Validation rules of services/common that no quick request can reach: edges of the budget."""

from __future__ import annotations

import pytest

from services.common import errors
from services.common.errors import ApiError
from services.common.models import MAX_WAIT_MS, Fanout


@pytest.mark.parametrize(("calls", "ms"), [(50, 100), (1, MAX_WAIT_MS), (2, 2500), (50, 0)])
def test_fanout_within_the_budget(calls: int, ms: int) -> None:
    params = Fanout(calls=calls, ms=ms)
    assert errors.within_wait_budget(params) is params


@pytest.mark.parametrize(("calls", "ms"), [(50, 101), (2, 2501), (50, MAX_WAIT_MS)])
def test_fanout_past_the_budget_names_both(calls: int, ms: int) -> None:
    with pytest.raises(ApiError) as raised:
        errors.within_wait_budget(Fanout(calls=calls, ms=ms))
    assert raised.value.status == 422
    assert [d["field"] for d in raised.value.detail] == ["calls", "ms"]
    assert f"{calls} x {ms} = {calls * ms}" in raised.value.detail[0]["message"]
