# The Go reference service (services/go): built by services/go/build.sh from Debian's Go 1.19
# and library sources (golang-github-*-dev), offline, as natively; the image holds the static
# binary, the OpenAPI document it serves and BusyBox for the healthcheck, nothing else.
# compose.yaml gives each variant its command and environment (asynclab/variants.py).
ARG GO_BUILD_IMAGE=debian:bookworm-20250520-slim

FROM ${GO_BUILD_IMAGE} AS builder
WORKDIR /app
# Go and every library package of services/go/debian-packages.lock, whose versions build.sh
# checks; BusyBox for the healthcheck. Installed when the base image lacks them (a base of
# Debian's slim images always does); $PACKAGES unquoted: one word per package.
COPY services/go/debian-packages.lock services/go/
# hadolint ignore=DL3008,SC2086
RUN PACKAGES="golang-go busybox-static $(sed -e '/^#/d' -e 's/=.*//' services/go/debian-packages.lock)" \
    && (dpkg -s $PACKAGES >/dev/null 2>&1 || (apt-get update \
        && apt-get install -y --no-install-recommends $PACKAGES && rm -rf /var/lib/apt/lists/*))
COPY services/go/ services/go/
# build.sh checks the packages against services/go/debian-packages.lock, and builds without cgo:
# the binary needs no C library, so the image needs no operating system.
RUN services/go/build.sh && mkdir -p /rootfs/bin /rootfs/app/services/go/bin \
    && cp /bin/busybox /rootfs/bin/busybox \
    && cp services/go/bin/asynclab-go /rootfs/app/services/go/bin/

FROM scratch
COPY --from=builder /rootfs/ /
WORKDIR /app
COPY services/common/openapi.json services/common/openapi.json
USER 10001:10001
EXPOSE 8005
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=6 \
    CMD ["/bin/busybox", "wget", "-q", "-Y", "off", "-O", "/dev/null", "http://127.0.0.1:8005/readyz"]
CMD ["services/go/bin/asynclab-go", "--host", "0.0.0.0", "--port", "8005"]
