# The image of both services and the upstream: the same sources and lock file as the native lab.
# Each container runs `python -m asynclab.serve VARIANT --port N` (compose.yaml), which builds the
# variant's command and environment from asynclab/variants.py, so there is no CMD here.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
# Exactly the locked versions the native lab runs, without the dev group and without the
# project itself: the sources are copied next to the venv and run in place, as natively.
# granian (flask-granian, fastapi-granian) is a Rust server: its manylinux wheel from PyPI
# carries it, needing only the base image's glibc and libgcc_s. Never its source, which would
# need a Rust toolchain: a platform without a wheel fails here, saying so.
RUN uv sync --frozen --no-dev --no-install-project --no-build-package granian

FROM ${PYTHON_IMAGE}
# nginx for flask-sync-nginx (services/proxy.py), from the base image's Debian when it lacks it.
# Not pinned: Debian's stable suite changes it only for security fixes, and drops the version
# it replaces from the mirror, so a pin would break the build rather than reproduce it.
# hadolint ignore=DL3008
RUN command -v nginx >/dev/null || (apt-get update && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*)
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --home-dir /app app
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=builder /app/.venv /app/.venv
COPY docker/healthcheck.py docker/healthcheck.py
COPY asynclab/ asynclab/
COPY services/ services/
# prometheus_client's multiprocess folder, in the container's own filesystem: fresh at every
# start of the container, where Kubernetes runs the variant's command itself (deploy/k8s); the
# compose lab mounts a tmpfs over it, and `asynclab serve` empties it there.
# World-writable and sticky as /tmp: Docker gives a tmpfs mounted over an existing directory
# that directory's mode, not its owner (0700 made compose's tmpfs root's, unreadable to 10001).
RUN install -d -m 1777 /tmp/asynclab-metrics
USER 10001:10001
# Finds the port from the command line of PID 1, so one image serves every variant.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=6 \
    CMD ["python", "docker/healthcheck.py"]
