"""What the servers judge before the application: the shared head limits, answered the same
by both services, and the differences docs/contract.md names (contract/differences.py).

Raw requests on a socket (contract/raw.py), since an HTTP client would not send most of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asynclab.lab import Lab
from contract import differences, raw
from contract.cases import FRAMEWORKS
from contract.checks import check_refusal, service_url, serving

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"
CASE_IDS = [case[0] for case in raw.SAME_ANSWER_CASES]


@pytest.mark.parametrize(("id", "request_", "status", "field"), raw.SAME_ANSWER_CASES, ids=CASE_IDS)
def test_same_answer(lab: Lab, id: str, request_: bytes, status: int, field: str | None) -> None:
    """Every service takes a head at each limit and refuses one past it, alike, byte for byte,
    except where a server answers itself as docs/contract.md names."""
    answers = {name: raw.exchange(service_url(lab, name), request_) for name in FRAMEWORKS}
    own = {name: differences.own_answer(serving(lab, name), id) for name in FRAMEWORKS}
    alike = {}
    for name, answer in answers.items():
        if own[name] is not None:
            assert (answer.status, answer.media_type) == own[name], (name, answer)
            continue
        check_refusal(answer, status, field)
        assert answer.headers["server"] == f"asynclab-{name}"
        alike[name] = (answer.media_type, answer.body)
    first, *others = alike.items()
    for name, answer in others:
        assert answer == first[1], (first[0], name)


@pytest.mark.parametrize("id", list(differences.SERVER_ANSWERS))
def test_what_each_server_answers_itself(lab: Lab, id: str) -> None:
    """The named differences: each service's status and media type, as the contract says."""
    request_, expected = differences.SERVER_ANSWERS[id]
    for name in FRAMEWORKS:
        answer = raw.exchange(service_url(lab, name), request_)
        front = differences.front(serving(lab, name))
        assert (answer.status, answer.media_type) == expected[front], (name, answer)
        assert b"Traceback" not in answer.body


def named_in_the_contract() -> list[str]:
    """The ids of the table under "## Named differences" in docs/contract.md."""
    text = CONTRACT.read_text()
    section = text.split("## Named differences", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", section, re.M)


def test_the_contract_names_every_difference() -> None:
    assert sorted(named_in_the_contract()) == sorted(differences.NAMED)
