"""uvicorn's httptools protocol with a deadline on the request head, for every FastAPI variant.

uvicorn arms its keep-alive timeout only after a response: a connection that never sends a
request stays open for ever (3,000 idle connections held, one file descriptor each, measured),
and one that trickles its headers a byte at a time likewise. Here every connection must deliver
a complete request head within ``HEAD_TIMEOUT_S`` of opening, and of each response; otherwise it
is closed without an answer. That is exactly what gunicorn's gevent worker does (a
``gevent.Timeout(keepalive)`` around reading the head), so flask-gevent and the FastAPI
variants treat slow clients alike. The body is not covered: the app reads it, as in gevent.

Selected with ``uvicorn --http services.fastapi.protocol:HttpToolsProtocol`` (variants.py) and
by the gunicorn worker of fastapi-workers (services/fastapi/worker.py).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as UvicornHttpToolsProtocol

# gunicorn's keepalive in services/gunicorn.conf.py, and uvicorn's --timeout-keep-alive.
HEAD_TIMEOUT_S = 5.0


class HttpToolsProtocol(UvicornHttpToolsProtocol):
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # uvicorn armed its keep-alive timer, so the connection now waits for the next request
        # (not when it closes, nor when a pipelined request is already being served).
        if self.timeout_keep_alive_task is not None:
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(HEAD_TIMEOUT_S, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
