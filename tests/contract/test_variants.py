"""Every variant of asynclab.variants serves the contract, and holds as many DB waits as it says.

Each variant in turn takes its framework's port (``lab.switch``); the other framework keeps
its default variant and serves as the reference. The defaults come back at the end.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from helpers import poll_until

from asynclab.lab import Lab
from asynclab.registry import SERVICES
from asynclab.variants import VARIANTS, Framework, Variant
from contract import differences, raw
from contract.cases import (
    BAD_REQUESTS,
    GOOD_REQUESTS,
    MAX_BODY,
    VALID_ITEM,
    Req,
    padded_item,
    post_json,
)
from contract.checks import (
    CLIENT_TIMEOUT_S,
    Conn,
    answer,
    check_headers,
    client,
    service_url,
)

SAME = [
    Req("json", "GET", "/json"),
    Req("db", "GET", "/db"),
    Req("io-db", "GET", "/io/db", params={"ms": "10"}),
    post_json("items", VALID_ITEM),
    post_json("items-invalid", VALID_ITEM | {"quantity": -1}, 422),
    post_json("items-nul", VALID_ITEM | {"name": "a\x00"}, 422),
    Req("fanout-over-budget", "GET", "/fanout", params={"calls": "50", "ms": "101"}),
    Req("HEAD-metrics", "HEAD", "/metrics"),
]
# The service each variant's answers are compared with: another one.
OTHER = {name: next(n for n in SERVICES if n != name) for name in SERVICES}
WAIT_MS = 1000  # long enough for every request of a round to start before the first ends
SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE state = 'active' AND query ILIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
)


def running_variant(lab: Lab, framework: str) -> str:
    manifest = lab.manifest()
    assert manifest is not None, "the lab is not running"
    name: str = manifest["variants"][framework]["name"]
    return name


@pytest.fixture(scope="module")
def defaults_restored(lab: Lab) -> Iterator[None]:
    defaults: dict[Framework, str] = {name: lab.settings.variant(name) for name in SERVICES}
    yield
    for framework, name in defaults.items():
        if running_variant(lab, framework) != name:
            lab.switch(framework, name)


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def variant(request: pytest.FixtureRequest, lab: Lab, defaults_restored: None) -> Variant:
    chosen: Variant = VARIANTS[request.param]
    if running_variant(lab, chosen.framework) != chosen.name:
        lab.switch(chosen.framework, chosen.name)
    return chosen


def test_serves_the_contract(lab: Lab, variant: Variant, db: Conn) -> None:
    mine, other = variant.framework, OTHER[variant.framework]
    proxied = {f: VARIANTS[running_variant(lab, f)].proxy is not None for f in (mine, other)}
    with (
        client(service_url(lab, mine)) as c,
        client(service_url(lab, other)) as ref,
    ):
        # SAME, then every case of the shared table: each variant runs the route table's
        # handlers its own way (async def, def in a thread pool, sync, gthread, gevent
        # workers), under its own server.
        for req in SAME + GOOD_REQUESTS + BAD_REQUESTS:
            got, expected = answer(c, req), answer(ref, req)
            if req.id in differences.PROXY_REQUESTS and any(proxied.values()):
                # nginx answers this one itself (docs/contract.md).
                for f, (status, media_type, _) in ((mine, got), (other, expected)):
                    wanted = (req.status, "application/json")
                    if proxied[f]:
                        wanted = differences.PROXY_REQUESTS[req.id]
                    assert (status, media_type) == wanted, req.id
                continue
            assert got == expected, req.id
        check_headers(c.get("/json"), mine)
        written = {r["id"]: r["randomNumber"] for r in c.get("/updates?queries=10").json()}
    rows = db.execute("SELECT id, randomnumber FROM world WHERE id = ANY(%s)", (list(written),))
    assert dict(rows.fetchall()) == written, "/updates did not write back what it answered"


def test_same_answers_to_raw_heads(lab: Lab, variant: Variant) -> None:
    """The head limits and paths of contract/raw.py (each server's own parser and refusals),
    and the named differences, which depend only on the server that parses the head."""
    mine, other = variant.framework, OTHER[variant.framework]
    serving = {f: VARIANTS[running_variant(lab, f)] for f in (mine, other)}
    for id, request, status, _ in raw.SAME_ANSWER_CASES:
        got, expected = (raw.exchange(service_url(lab, f), request) for f in (mine, other))
        own = {f: differences.own_answer(serving[f], id) for f in (mine, other)}
        if any(own.values()):
            # nginx or granian answers this one itself (docs/contract.md); the other side as
            # the contract says.
            for f, answer in ((mine, got), (other, expected)):
                if own[f] is not None:
                    assert (answer.status, answer.media_type) == own[f], (f, id)
                else:
                    assert answer.status == status, (f, id)
            continue
        assert (got.status, got.media_type, got.body) == (
            expected.status,
            expected.media_type,
            expected.body,
        ), id
    for id, (request, answers) in differences.SERVER_ANSWERS.items():
        got = raw.exchange(service_url(lab, mine), request)
        assert (got.status, got.media_type) == answers[differences.front(variant)], id


def test_a_refused_body_leaves_the_connection_usable(lab: Lab, variant: Variant) -> None:
    """A body refused for its size (413) is answered on a connection that, unless the answer
    says ``Connection: close``, serves the next request: gthread once closed it under the
    client's next request after answering keep-alive (it gave up discarding past 64 KiB)."""
    url = urlsplit(service_url(lab, variant.framework))
    assert url.hostname is not None
    assert url.port is not None
    body = padded_item(MAX_BODY + 1)
    post = (
        b"POST /items HTTP/1.1\r\nHost: asynclab\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection((url.hostname, url.port), timeout=CLIENT_TIMEOUT_S) as sock:
        sock.sendall(post + body)
        first = read_answer(sock)
        assert first.status == 413, first
        if first.headers.get("connection", "").lower() == "close":
            return
        sock.sendall(b"GET /json HTTP/1.1\r\nHost: asynclab\r\n\r\n")
        assert read_answer(sock).status == 200


def read_answer(sock: socket.socket) -> raw.Answer:
    """One answer with a Content-Length from a kept-alive connection."""
    received = bytearray()
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without an answer: {bytes(received)!r}"
        received += chunk
    top, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *field_lines = top.decode("latin-1").split("\r\n")
    headers = {n.strip().lower(): v.strip() for n, _, v in (f.partition(":") for f in field_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection inside an answer"
        body += chunk
    return raw.Answer(int(status_line.split(" ")[1]), headers, body)


def waits_at_once(lab: Lab, variant: Variant, n: int) -> int:
    """Send ``n`` /io/db waits at once; return the most pg_sleep that ran together."""
    s = lab.settings
    most = 0
    with (
        psycopg.connect(s.database_url(), autocommit=True) as db,
        httpx.Client(base_url=service_url(lab, variant.framework), timeout=CLIENT_TIMEOUT_S,
                     limits=httpx.Limits(max_connections=n, keepalive_expiry=2.0)) as c,
        ThreadPoolExecutor(max_workers=n) as pool,
    ):  # fmt: skip
        # Counting is only about this service while nothing else waits in Postgres (a Locust
        # run another test left going once added two).
        poll_until(
            lambda: db.execute(SLEEPING).fetchone() == (0,),
            "no pg_sleep in Postgres before the round (is something else loading the lab?)",
        )
        futures = [pool.submit(c.get, "/io/db", params={"ms": WAIT_MS}) for _ in range(n)]
        while not all(f.done() for f in futures):
            row = db.execute(SLEEPING).fetchone()
            most = max(most, row[0] if row else 0)
            time.sleep(0.005)  # the polling interval
        assert [f.result().status_code for f in futures] == [200] * n
    return most


def test_db_waits_overlap_as_the_slots_allow(lab: Lab, variant: Variant) -> None:
    """pg_stat_activity shows how many pg_sleep run at once: behaviour, not timing.

    More sleeps at once than processes proves a process serves several requests at once (for
    flask-gevent: psycopg yields to other greenlets). Never more than the variant's db_slots.
    """
    s = lab.settings
    processes, slots = variant.processes(s), variant.db_slots(s)
    # One process, or one request per process: every slot fills (the Little's-law numerator is
    # real, not only an upper bound). Several processes with pools: the kernel hands
    # connections to workers unevenly, so not every slot need fill; more than one per process
    # proves each serves several.
    one_each = processes == 1 or variant.db_pool_per_process(s) == 1
    wanted = slots if one_each else processes + 1
    seen: list[int] = []

    def overlapped() -> bool:
        # On a busy machine the client may start its requests too far apart for them all to
        # overlap: then it sends another round, until they do.
        seen.append(waits_at_once(lab, variant, min(slots + 2, 40)))
        assert 1 <= seen[-1] <= slots, (seen, slots)
        return seen[-1] >= wanted

    try:
        poll_until(overlapped, f"{wanted} waits at once", timeout=120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; most at once in each round: {seen}") from None
