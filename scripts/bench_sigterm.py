#!/usr/bin/env python3
"""SIGTERM under load, every service variant: how many requests in flight get a full answer.

Starts its own native lab (free ports, temporary state dir). For each variant it sends
``--requests`` requests of ``/io/db?ms=--ms``, each on its own connection, waits until the
service holds as many as it has slots (the rest wait in its listen backlog), stops the service
as ``asynclab down`` and ``switch`` do (SIGTERM to its process group, SIGKILL after 15 s), and
reads every answer (``asynclab/inflight.py``).

    .venv/bin/python scripts/bench_sigterm.py --requests 10 --ms 1000

Prints a Markdown table; ``--json`` writes the rows too.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from asynclab.inflight import stop_under_load, surely_in_service
from asynclab.lab import Lab
from asynclab.procs import isolated_settings
from asynclab.variants import VARIANTS


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--ms", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # `kill` (and Ctrl-C, also in a background job) stops the lab this script started.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="asynclab-sigterm-") as tmp:
        Path(tmp).chmod(0o711)  # as root Postgres runs as nobody and must enter it
        lab = Lab(isolated_settings(Path(tmp) / "state"))
        lab.up()
        s = lab.settings
        try:
            for name in args.variants.split(","):
                variant = VARIANTS[name]
                record = lab.switch(variant.framework, variant.name)
                port = s.port(variant.framework)
                result = stop_under_load(
                    s,
                    record,
                    port,
                    count=args.requests,
                    wait_ms=args.ms,
                    at_least=surely_in_service(variant, s, args.requests),
                    settle_s=0.5,
                )
                failures = sorted(set(result.failures()))
                rows.append(
                    {
                        "variant": name,
                        "in flight": result.sent,
                        "being served at SIGTERM": result.in_service,
                        "complete answers": result.completed,
                        "failed": f"{result.sent - result.completed} {failures or ''}".strip(),
                        "stop took (s)": f"{result.stop_s:.1f}",
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            lab.down()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
