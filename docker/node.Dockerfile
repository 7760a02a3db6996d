# The Node reference service (services/node): Node and npm from Debian's packages, its
# dependencies from services/node/package-lock.json with `npm ci`, as scripts/install.sh installs
# them natively. Debian 13: Debian 12 packages Node 18, and Fastify 5 needs Node 20.
# compose.yaml gives each variant its command and environment (asynclab/variants.py).
ARG NODE_BASE_IMAGE=debian:trixie-20251020-slim

FROM ${NODE_BASE_IMAGE} AS builder
# Not pinned: Debian's stable suite changes them only for security fixes, and drops the version
# it replaces from the mirror, so a pin would break the build rather than reproduce it.
# Installed when the base image lacks them (a base of Debian's slim images always does);
# $PACKAGES unquoted: one word per package.
# hadolint ignore=DL3008,SC2086
RUN PACKAGES="nodejs npm ca-certificates" \
    && (dpkg -s $PACKAGES >/dev/null 2>&1 || (apt-get update \
        && apt-get install -y --no-install-recommends $PACKAGES && rm -rf /var/lib/apt/lists/*))
WORKDIR /app/services/node
COPY services/node/package.json services/node/package-lock.json ./
# Exactly the locked versions, without the dev dependencies.
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_BASE_IMAGE}
# Node alone, without npm and its hundreds of packages; BusyBox for the healthcheck's wget.
# hadolint ignore=DL3008,SC2086
RUN PACKAGES="nodejs busybox" \
    && (dpkg -s $PACKAGES >/dev/null 2>&1 || (apt-get update \
        && apt-get install -y --no-install-recommends $PACKAGES && rm -rf /var/lib/apt/lists/*))
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --home-dir /app app
WORKDIR /app
COPY --from=builder /app/services/node/node_modules services/node/node_modules
COPY services/node/ services/node/
# The OpenAPI document it serves (SERVICE_OPENAPI_PATH's default, relative to its sources).
COPY services/common/openapi.json services/common/openapi.json
USER 10001:10001
EXPOSE 8004
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=6 \
    CMD ["/bin/busybox", "wget", "-q", "-Y", "off", "-O", "/dev/null", "http://127.0.0.1:8004/readyz"]
CMD ["node", "services/node/server.js", "--host", "0.0.0.0", "--port", "8004"]
