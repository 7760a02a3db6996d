"""The gunicorn worker of ``flask-sync``: gunicorn's sync worker, which drains when it stops.

gunicorn.conf.py runs it wherever the variant table says ``sync``.
"""

from __future__ import annotations

import errno

from gunicorn.workers.sync import SyncWorker


class DrainingSyncWorker(SyncWorker):
    """A sync worker that answers every connection the kernel accepted before it stops.

    On SIGTERM gunicorn's sync worker finishes its one request and exits. Connections that
    completed their handshake meanwhile wait in the listen backlog, their request often sent
    already; they are reset when the last worker closes the socket (7 of 10 requests in flight,
    measured). This worker then accepts and serves them until the backlog is empty. gunicorn's
    ``graceful_timeout`` still bounds the whole stop: the arbiter kills a worker that overruns it.
    """

    def run(self) -> None:
        super().run()
        self.drain()

    def drain(self) -> None:
        for listener in self.sockets:  # non-blocking since run() began
            while True:
                self.notify()  # draining is work: the arbiter must not take it for a hang
                try:
                    self.accept(listener)
                except OSError as exc:
                    if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                        break
                    if exc.errno != errno.ECONNABORTED:
                        raise
