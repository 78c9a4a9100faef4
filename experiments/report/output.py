"""Writing a report file: checked before the run, written whole or not at all.

`check_writable` is called before a comparison seeds or places anything: a report that
cannot be written must fail the command at once, with nothing done (the CLI's "bad input
writes nothing"), not after a minute of orders. It probes the way `write_atomically`
writes — a temporary file in the target's directory, then a rename — so what the check
accepts, the write can do, and the probe leaves nothing behind.

`write_atomically` writes a temporary file beside the target and renames it over the
target: a reader (a browser reloading the report) sees the old file or the new one,
never half of one, and a failed write leaves no file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from domain.errors import OrderflowError


class ReportPathError(OrderflowError):
    """A report path that cannot be written."""


def check_writable(path: Path) -> None:
    """Raise ReportPathError, one line, unless a file can be written at `path`."""
    if path.is_dir():
        raise ReportPathError(f"cannot write the report to {path}: it is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise ReportPathError(f"cannot write the report to {path}: "
                              f"no such directory {parent}")
    try:
        handle, probe = tempfile.mkstemp(dir=parent, prefix=".orderflow-probe-")
    except OSError as exc:
        raise ReportPathError(f"cannot write the report to {path}: "
                              f"{exc.strerror or exc}") from exc
    os.close(handle)
    os.unlink(probe)


def write_atomically(path: Path, text: str) -> None:
    """`text` at `path`, whole (UTF-8, mode 0644), or no file and an OSError."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
