"""Is an external target an HTTP service that answers, seen from where the generator runs?

Checked before any load, step by step so that the refusal names the step: the host resolves,
its port accepts a connection, and ``GET /healthz`` gets an HTTP answer. Any status will do (a
service without that route answers 404, in HTTP): a server that answers something else than
HTTP, or nothing, is refused, as are names that do not resolve and ports nobody listens on.

``python -m asynclab.target_check LABEL=URL`` runs the same check where the generator runs
(a compose container, whose network is not this machine's): it prints the answer as JSON, or
``refused: <why>`` on stderr and exits with 2.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from asynclab.target import Target, TargetError, parse_target

PATH = "/healthz"
TIMEOUT_S = 5.0
EXIT_REFUSED = 2
REFUSED = "refused: "


@dataclass(frozen=True)
class Answer:
    """What the target answered to ``GET /healthz``."""

    status: int
    path: str
    seconds: float  # the whole GET, connection included: roughly how far away it is
    server: str | None  # its Server header, as it introduces itself

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answer:
        return cls(int(data["status"]), str(data["path"]), float(data["seconds"]),
                   data.get("server"))  # fmt: skip


def check(target: Target, timeout_s: float = TIMEOUT_S) -> Answer:
    """The target's answer to ``GET /healthz``; TargetError says why there is none:
    ``cannot reach http://127.0.0.1:9: connection refused: is the service running?``."""
    url = target.url
    try:
        socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetError(
            f"cannot resolve {target.host} (in {url}): {exc.strerror}: is the name right, and "
            "known where the generator runs?",
            target,
        ) from None
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout_s):
            pass
    except ConnectionRefusedError:
        raise TargetError(
            f"cannot reach {url}: connection refused: is the service running, on that port?",
            target,
        ) from None
    except TimeoutError:
        raise TargetError(
            f"cannot reach {url}: no connection within {timeout_s:g} s: is the address right, "
            "and open to the generator (a firewall, another network)?",
            target,
        ) from None
    except OSError as exc:
        raise TargetError(f"cannot reach {url}: {exc.strerror or exc}", target) from None
    return _get(target, timeout_s)


def _get(target: Target, timeout_s: float) -> Answer:
    url = target.url
    not_http = (
        f"{url} does not speak HTTP: is it the service's HTTP port (not a database's, nor "
        "another protocol's)?"
    )
    # trust_env=False: the check goes where the load goes, never through a proxy of the shell.
    with httpx.Client(timeout=timeout_s, trust_env=False) as client:
        started = time.monotonic()
        try:
            response = client.get(url + PATH)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            # A garbled answer, or the connection dropped (reset) instead of one.
            raise TargetError(f"{not_http} GET {PATH} got: {exc}", target) from None
        except httpx.TimeoutException:
            raise TargetError(
                f"{url} accepted a connection but sent no HTTP answer to GET {PATH} within "
                f"{timeout_s:g} s: is it an HTTP service, and not stuck?",
                target,
            ) from None
        except httpx.ConnectError as exc:
            hint = ": is it http:// rather than https://?" if url.startswith("https:") else ""
            raise TargetError(f"cannot talk to {url}: {exc}{hint}", target) from None
        except httpx.HTTPError as exc:
            raise TargetError(f"GET {url}{PATH} failed: {exc}", target) from None
    seconds = time.monotonic() - started
    return Answer(response.status_code, PATH, round(seconds, 4), response.headers.get("server"))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m asynclab.target_check LABEL=URL", file=sys.stderr)
        return EXIT_REFUSED
    try:
        answer = check(parse_target(argv[0]))
    except TargetError as exc:
        print(f"{REFUSED}{exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(answer.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
