"""The gunicorn worker of ``flask-sync``: gunicorn's sync worker, which drains when it stops.

gunicorn.conf.py runs it wherever the variant table says ``sync``.
"""

from __future__ import annotations

import errno
import time
from types import FrameType

from gunicorn.workers.sync import SyncWorker


class DrainingSyncWorker(SyncWorker):
    """A sync worker that answers every connection the kernel accepted before it stops.

    On SIGTERM gunicorn's sync worker finishes its one request and exits. Connections that
    completed their handshake meanwhile wait in the listen backlog, their request often sent
    already; they are reset when the last worker closes the socket (7 of 10 requests in flight,
    measured). This worker then accepts and serves them until the backlog is empty. gunicorn's
    ``graceful_timeout`` still bounds the whole stop: the arbiter kills a worker that overruns it.

    Under continuous load the backlog never empties (every worker still holds the listening
    socket, so the kernel keeps accepting): the drain stops accepting at three quarters of
    ``graceful_timeout`` after the signal, which leaves the last request it took a quarter to
    finish in before the arbiter kills the worker. A worker whose arbiter is gone does not
    drain: nobody is stopping in order.
    """

    stop_requested_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
        super().handle_exit(sig, frame)

    def run(self) -> None:
        super().run()
        if self.is_parent_alive():
            self.drain()

    def drain(self) -> None:
        started = self.stop_requested_at or time.monotonic()
        deadline = started + self.cfg.graceful_timeout * 0.75
        for listener in self.sockets:  # non-blocking since run() began
            while time.monotonic() < deadline:
                self.notify()  # draining is work: the arbiter must not take it for a hang
                try:
                    self.accept(listener)
                except OSError as exc:
                    if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                        break
                    if exc.errno != errno.ECONNABORTED:
                        raise
