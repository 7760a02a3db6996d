"""Substitute base images for the engine test, built from Debian packages.

No container registry is reachable here, so the images compose.yaml and the Dockerfiles name
(``python``, ``postgres``, ``prom/prometheus``, ``postgres-exporter``, and Debian's slim images
the reference services build on) are replaced by images of our own. ``mmdebstrap`` makes a
Debian root file system with every package they need, ``docker import`` turns it into a base
image, and a Dockerfile per substitute adds what the official image sets (PATH, entrypoint,
user, stop signal). They get their own names (``asynclab-local/...``), passed to compose through
the ``.env`` variables, so the official tags never name anything else.

Each tag carries a hash of its recipe (suite, packages, hooks, the files they copy in, the
Dockerfile), so the engine's persistent data root is a cache: an image is built only when its
recipe changed, and images of older recipes are removed. One root file system for the four
official images: a single download and unpacking of the packages is much faster than four on a
busy machine, and the images share its layer. The reference services' bases are root file
systems of their own: Node 20 is Debian 13's, and Go's toolchain would only weigh on the rest.
Each holds the packages its Dockerfile installs when they are missing, so the builds need no
Debian mirror; what the Dockerfiles fetch (PyPI, the npm registry) they reach through this
machine's CA bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent / "images"
ROOT = Path(__file__).resolve().parents[2]
MIRROR = os.environ.get("ASYNCLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
REPOSITORY = "asynclab-local"
# The CA bundle of this machine: builds reach PyPI through whatever it trusts.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
ENTRYPOINT = HERE / "postgres-entrypoint.sh"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Manuals and translations are of no use in an image and take a third of the unpacking.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
BUILD_TIMEOUT_S = 900

# mmdebstrap --customize-hook commands: "$1" is the new root; copy-in copies a file of ours.
TRUST_HOST_CA = f'cp {HOST_CA} "$1/etc/ssl/certs/ca-certificates.crt"'


@dataclass(frozen=True)
class Base:
    """A Debian root file system: ``suite``, the packages in it, the hooks that finish it."""

    name: str
    suite: str
    packages: tuple[str, ...]
    hooks: tuple[str, ...]
    hook_files: tuple[Path, ...] = ()

    def tag(self) -> str:
        recipe = [self.suite, DPKG_EXCLUDES, self.packages, self.hooks]
        digest = hashlib.sha256(json.dumps(recipe).encode())
        for path in self.hook_files:
            digest.update(path.read_bytes())
        return f"{REPOSITORY}/{self.name}:{self.suite}-{digest.hexdigest()[:12]}"

    def mmdebstrap_command(self) -> list[str]:
        argv = ["mmdebstrap", "--variant=minbase", f"--include={','.join(self.packages)}"]
        argv += [f"--dpkgopt=path-exclude={path}" for path in DPKG_EXCLUDES]
        argv += [f"--customize-hook={hook}" for hook in self.hooks]
        return [*argv, self.suite, "-", MIRROR]


DEBIAN = Base(
    "debian",
    "bookworm",
    packages=(
        # python: what the Dockerfiles' builder and final stages use
        "python3", "python3-venv", "python3-pip", "passwd", "ca-certificates",
        # the service image's nginx (flask-sync-nginx): the Dockerfile installs it when missing
        "nginx",
        # postgres, prometheus, postgres-exporter; busybox for their healthchecks' wget
        "postgresql-15", "prometheus", "prometheus-postgres-exporter", "busybox",
    ),
    hooks=(
        'ln -s /usr/bin/python3 "$1/usr/local/bin/python"',
        # The official image's pip installs into the system Python (the Dockerfiles' `pip
        # install uv`); Debian's refuses while this marker exists.
        'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
        TRUST_HOST_CA,
        'ln -s /bin/busybox "$1/usr/local/bin/wget"',
        # Debian's package makes a cluster; the entrypoint makes the lab's on the first start.
        'rm -rf "$1/etc/postgresql/15" "$1/var/lib/postgresql/15"',
        'mkdir -p "$1/docker-entrypoint-initdb.d" "$1/var/lib/postgresql/data" "$1/prometheus"',
        'chown 65534:65534 "$1/prometheus"',
        f"copy-in {ENTRYPOINT} /usr/local/bin",
        'chmod 755 "$1/usr/local/bin/postgres-entrypoint.sh"',
    ),
    hook_files=(HOST_CA, ENTRYPOINT),
)  # fmt: skip
# What docker/node.Dockerfile installs in its stages (Debian's slim image has passwd).
NODE_BASE = Base(
    "debian-node",
    "trixie",
    packages=("nodejs", "npm", "busybox", "ca-certificates", "passwd"),
    hooks=(TRUST_HOST_CA,),
    hook_files=(HOST_CA,),
)
# What docker/go.Dockerfile's build stage installs: Go and the library packages of the Go
# service's lock (their versions, build.sh checks), BusyBox for the healthcheck.
GO_LOCK = ROOT / "services" / "go" / "debian-packages.lock"


def locked_packages() -> tuple[str, ...]:
    lines = GO_LOCK.read_text().splitlines() if GO_LOCK.is_file() else []
    return tuple(line.split("=")[0] for line in lines if line and not line.startswith("#"))


GO_BUILD = Base(
    "debian-go",
    "bookworm",
    packages=("golang-go", "busybox-static", *locked_packages()),
    hooks=(),
)


@dataclass(frozen=True)
class Substitute:
    """One image: ``variable`` is the ``.env`` variable compose reads its name from, and
    ``dockerfile`` what the official image's Dockerfile sets, on top of the Debian base."""

    variable: str
    name: str
    dockerfile: str
    base: Base = DEBIAN

    def tag(self) -> str:
        recipe = f"{self.base.tag()}\n{self.dockerfile}"
        key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
        return f"{REPOSITORY}/{self.name}:{self.base.suite}-{key}"


SUBSTITUTES = (
    Substitute(
        "PYTHON_IMAGE",
        "python",
        f"""
ENV PATH={PATH} LANG=C.UTF-8
# uv trusts only its own roots unless told where the system's are.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
""",
    ),
    Substitute(
        "POSTGRES_IMAGE",
        "postgres",
        f"""
ENV PATH=/usr/lib/postgresql/15/bin:{PATH} LANG=C.UTF-8 PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["postgres-entrypoint.sh"]
CMD ["postgres"]
STOPSIGNAL SIGINT
EXPOSE 5432
""",
    ),
    Substitute(
        "PROMETHEUS_IMAGE",
        "prometheus",
        f"""
ENV PATH={PATH}
USER 65534:65534
WORKDIR /prometheus
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
EXPOSE 9090
""",
    ),
    Substitute(
        "POSTGRES_EXPORTER_IMAGE",
        "postgres-exporter",
        f"""
ENV PATH={PATH}
USER 65534:65534
ENTRYPOINT ["/usr/bin/prometheus-postgres-exporter"]
EXPOSE 9187
""",
    ),
    Substitute(
        "NODE_BASE_IMAGE",
        "node-base",
        f"""
ENV PATH={PATH}
CMD ["bash"]
""",
        NODE_BASE,
    ),
    Substitute(
        "GO_BUILD_IMAGE",
        "go-build",
        f"""
ENV PATH={PATH}
CMD ["bash"]
""",
        GO_BUILD,
    ),
)


class BuildFailed(RuntimeError):
    pass


class Builder:
    def __init__(self, docker: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.docker = docker
        self.env = env
        self.log_dir = log_dir

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.docker, *args], env=self.env, input=stdin, capture_output=True, text=True,
            timeout=BUILD_TIMEOUT_S, check=False,
        )  # fmt: skip

    def present(self, tag: str) -> bool:
        return self.run("image", "inspect", tag).returncode == 0

    def import_base(self, base: Base) -> None:
        """mmdebstrap ... | docker import: the root file system streams into the engine."""
        tag = base.tag()
        log = self.log_dir / f"mmdebstrap-{base.name}.log"
        with log.open("wb") as out:
            debootstrap = subprocess.Popen(
                base.mmdebstrap_command(), stdout=subprocess.PIPE, stderr=out
            )
            assert debootstrap.stdout is not None
            try:
                imported = subprocess.run(
                    [*self.docker, "import", "-", tag], stdin=debootstrap.stdout, stdout=out,
                    stderr=out, env=self.env, timeout=BUILD_TIMEOUT_S, check=False,
                )  # fmt: skip
            finally:
                debootstrap.stdout.close()
                debootstrap.wait(timeout=BUILD_TIMEOUT_S)
        if debootstrap.returncode != 0 or imported.returncode != 0:
            self.run("rmi", tag)  # half a file system must not pass for the cached base
            raise BuildFailed(
                f"building {tag} failed (mmdebstrap exit {debootstrap.returncode}, docker import "
                f"exit {imported.returncode}); {log}:\n{log.read_text(errors='replace')[-3000:]}"
            )

    def build(self, substitute: Substitute) -> None:
        tag, base = substitute.tag(), substitute.base.tag()
        # The classic builder: no RUN step, so neither network nor BuildKit is needed.
        done = subprocess.run(
            [*self.docker, "build", "--quiet", "--tag", tag, "-"],
            env={**self.env, "DOCKER_BUILDKIT": "0"}, input=f"FROM {base}\n{substitute.dockerfile}",
            capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise BuildFailed(f"docker build of {tag} failed: {done.stderr[-3000:]}")


def ensure_images(
    docker: list[str], env: dict[str, str], log_dir: Path, echo: Callable[[str], None] = print
) -> dict[str, str]:
    """Build what is missing, remove what is outdated; return the ``.env`` variables that name
    the substitutes, ``{"PYTHON_IMAGE": "asynclab-local/python:bookworm-...", ...}``."""
    builder = Builder(docker, env, log_dir)
    tags = {s.variable: s.tag() for s in SUBSTITUTES}
    bases = {s.base.tag(): s.base for s in SUBSTITUTES}
    missing = [s for s in SUBSTITUTES if not builder.present(s.tag())]
    needed = {s.base.tag(): s.base for s in missing if not builder.present(s.base.tag())}
    for tag in needed:
        echo(f"building {tag} with mmdebstrap")
    # At once: mostly waiting for the mirror, and a cold cache has three to make.
    with ThreadPoolExecutor(max_workers=len(needed) or 1) as pool:
        list(pool.map(builder.import_base, needed.values()))
    for substitute in missing:
        builder.build(substitute)
    listed = builder.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    current = {*bases, *tags.values()}
    outdated = [t for t in listed if t.startswith(f"{REPOSITORY}/") and t not in current]
    if outdated:
        builder.run("rmi", *outdated)
    return tags
