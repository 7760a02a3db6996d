# The load generator: Locust with the lab's scenarios (loadtests/) and what they import (asynclab/,
# services/common), from the same lock file as the native lab. compose.yaml runs it as master,
# as worker, and as the bench's headless generator.
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
RUN uv sync --frozen --no-dev --no-install-project

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --home-dir /app app
WORKDIR /app
# PYTHONPATH: the scenarios import asynclab and services from the source tree, as natively.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=builder /app/.venv /app/.venv
COPY docker/healthcheck.py docker/healthcheck.py
COPY asynclab/ asynclab/
COPY loadtests/ loadtests/
COPY services/ services/
USER 10001:10001
EXPOSE 8089
# Master: its web UI answers. Worker: its master's port accepts connections.
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=6 \
    CMD ["python", "docker/healthcheck.py"]
CMD ["locust", "-f", "loadtests", "--class-picker"]
