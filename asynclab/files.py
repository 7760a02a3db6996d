"""Files written whole: a reader (a later command, Prometheus, the report) sees the old content
or the new, never half of it, even if the writer dies in between."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str, *, private: bool = False) -> None:
    """Write ``text`` to a hidden temporary file beside ``path``, then rename it into place.

    ``private``: the file is its owner's alone (0600), whatever the umask; lab.json holds the
    database password.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
    if private:
        os.fchmod(fd, 0o600)  # a leftover tmp file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
