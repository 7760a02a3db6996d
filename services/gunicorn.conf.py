"""The one gunicorn configuration: Flask variants and fastapi-workers, native and compose.

Everything variable comes from the environment that asynclab/variants.py builds, so that this
file never differs between the two ways of running the lab.
"""

import os

import gunicorn.http.wsgi

from services.common import limits

worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
# Shutdown (asynclab runner): gunicorn's sync worker resets the requests still in the listen
# backlog when it stops; this subclass serves them first (services/flask/worker.py).
if worker_class == "sync":
    worker_class = "services.flask.worker.DrainingSyncWorker"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# Keep-alive like uvicorn's default (5 s), for gthread, gevent and uvicorn workers. gunicorn's
# sync worker ignores it and closes every connection after one response: flask-sync pays a TCP
# handshake per request. That is part of the sync model, and the README says so.
keepalive = 5
# Far above the longest accepted request (5000 ms of waiting, MAX_WAIT_MS in
# services/common/models.py, plus about a second of CPU work): no worker is killed for one.
timeout = 120
graceful_timeout = 10
accesslog = None
errorlog = "-"
loglevel = "warning"
# No preload: each worker must open its own pools (threads do not survive fork) and gevent
# must patch the standard library before the app imports it.
preload_app = False
# No control socket (gunicorn 25.1+, for `gunicornc`): by default every gunicorn of this user
# binds $HOME/.gunicorn/gunicorn.ctl, each lab's replacing the last one's, and in a container
# whose home is read-only it logs "Control server error: Permission denied" at every start.
control_socket_disable = True

# gunicorn writes its own Server header before the app's headers; name the service instead.
gunicorn.http.wsgi.SERVER = "asynclab-" + os.environ.get("SERVICE_NAME", "service")

# Request-head limits: the numbers uvicorn's side enforces too (services/common/limits.py).
limit_request_line = limits.MAX_REQUEST_LINE
limit_request_fields = limits.MAX_HEADER_FIELDS
limit_request_field_size = limits.MAX_HEADER_FIELD_BYTES


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    # Refusals of those limits answer in the contract's JSON, as the FastAPI side does. Imported
    # here, in the worker: after gevent's patching, and not into the arbiter.
    from services.gunicorn_refusals import answer_in_json

    answer_in_json(worker, gunicorn.http.wsgi.SERVER)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    # A dead worker's multiprocess metric files must stop counting as live (prometheus_client).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
