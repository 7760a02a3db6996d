"""uvicorn's httptools protocol with a deadline on the request head, for every FastAPI variant.

uvicorn arms its keep-alive timeout only after a response: a connection that never sends a
request stays open for ever (3,000 idle connections held, one file descriptor each, measured),
and one that trickles its headers a byte at a time likewise. Here every connection must deliver
a complete request head within the keep-alive timeout (5 s) of opening, and of each response;
otherwise it is closed without an answer. That is exactly what gunicorn's gevent worker does (a
``gevent.Timeout(keepalive)`` around reading the head), so flask-gevent and the FastAPI
variants treat slow clients alike. The body is not covered: the app reads it, as in gevent.

Selected with ``uvicorn --http services.fastapi.protocol:HttpToolsProtocol`` (variants.py) and
by the gunicorn worker of fastapi-workers (services/fastapi/worker.py).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as UvicornHttpToolsProtocol


class HttpToolsProtocol(UvicornHttpToolsProtocol):
    """uvicorn's keep-alive timer, armed from the connection's start and kept until the head.

    uvicorn arms the timer after each response and cancels it at the first byte of the next
    request; here it is also armed when the connection opens, and runs on until the request
    head is complete. One timer per request, as uvicorn has, rather than a second one of our
    own to arm and cancel on every request. Its length is the keep-alive timeout
    (``--timeout-keep-alive 5``, or gunicorn's keepalive for fastapi-workers), the same 5 s as
    gunicorn's keepalive.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this when data arrives, when a response is complete (no timer is armed
        # then: the head that started the request cancelled it) and when the connection is
        # lost (cancelled below). The timer is cancelled where the head completes instead.
        pass

    def on_headers_complete(self) -> None:
        self._cancel_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _cancel_deadline(self) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
