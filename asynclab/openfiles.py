"""The open-file limit (RLIMIT_NOFILE) that thousands of connections need.

Every connection is a file descriptor on both ends: 5,000 users need 5,000 sockets in Locust and
as many in a service that holds them all (uvicorn, Node, Go, gevent), where the usual soft
limit is 1,024. The lab raises its own soft limit to the hard one before it starts anything, so
that every process it starts (services, Locust) inherits it, and refuses a run whose users the
hard limit cannot hold, which only root can raise. (Go raises its own soft limit too, Locust to
10,000 at least; gunicorn, uvicorn and Node do not.)
"""

from __future__ import annotations

import resource

# Descriptors a process needs besides one per user: its pools, listening sockets, logs,
# libraries, Locust's own (its web UI, its workers' pipes).
SPARE = 256


def raise_soft_limit() -> tuple[int, int]:
    """Raise this process's soft limit to its hard limit; return (soft, hard) afterwards.

    Children inherit it. Harmless when it is there already; where the system refuses (it never
    should: the hard limit is the ceiling a process may raise itself to), the limits stay.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard or (hard == resource.RLIM_INFINITY and soft != hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft, hard
        soft = hard
    return soft, hard


def needed(users: int) -> int:
    """File descriptors one process needs to hold ``users`` connections."""
    return users + SPARE


def shortfall(users: int) -> str | None:
    """Why this machine cannot open ``users`` connections in one process, and what to do about
    it; None when the hard limit allows it (after raising the soft one to it)."""
    soft, hard = raise_soft_limit()
    want = needed(users)
    if hard == resource.RLIM_INFINITY or hard >= want:
        return None
    return (
        f"{users:,} users need about {want:,} open files in Locust and in the service (a "
        f"socket per connection on each side), but this shell's hard limit is {hard:,} "
        f"(ulimit -Hn; soft {soft:,}). Raise it (as root: ulimit -Hn {want}; in systemd "
        f"LimitNOFILE={want}; in docker --ulimit nofile={want}:{want}) or run fewer users"
    )
