"""What the CLI prints: rich tables for people, one JSON document for scripts.

The rich consoles are made on first use (`console()`, `err_console()`), so a command
that prints only JSON, or only an error line, never imports rich's console machinery.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


@cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@cache
def wide_console() -> Console:
    """For `--wide`: as wide as the values need, whatever the terminal."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, width=10_000)


@cache
def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(document: Any) -> None:
    """One JSON document on one line (`tail --json` prints a stream of them)."""
    sys.stdout.write(json.dumps(document, default=str, sort_keys=True) + "\n")
    sys.stdout.flush()


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
          wide: bool = False) -> None:
    """A table with light rules (2 characters between columns, no side borders), so the
    short forms below fit 80 columns; values are never cut, a too-wide one wraps.
    `wide`: as wide as the values need, whatever the terminal (for `--wide`)."""
    (wide_console() if wide else console()).print(table_view(title, columns, rows))


def table_view(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """`table`'s table, to print later or to show in a live view (`watch`); a cell that
    is rich Text keeps its style, any other is shown as plain text."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    view = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                 show_edge=False)
    for column in columns:
        view.add_column(column, overflow="fold")  # piped output: wrap, never cut values
    for row in rows:
        view.add_row(*(cell if isinstance(cell, Text) else
                       "" if cell is None else escape(str(cell)) for cell in row))
    return view


def fields(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    """One record as `field  value` lines: fits any terminal, whatever the values."""
    table(title, ["field", "value"], list(pairs))


def short_id(value: str | None, wide: bool = False) -> str | None:
    """An order id as the tables show it: its first 8 hex digits (`--wide`: all of it).
    Every command taking an order id accepts this form."""
    return value if wide or value is None else value[:8]


def full_time(stamp: str | None) -> str | None:
    """A stored UTC stamp as YYYY-MM-DD HH:MM:SS.mmm."""
    return None if stamp is None else f"{stamp[:10]} {stamp[11:23]}"


def compact_time(stamp: str | None, wide: bool = False, today: str | None = None) -> str | None:
    """A stored UTC stamp as HH:MM:SS.mmm, with the date (MM-DD) only when it is not
    today; `--wide` keeps the whole stamp."""
    if stamp is None or wide:
        return stamp
    today = today or datetime.now(UTC).date().isoformat()
    clock = stamp[11:23]
    return clock if stamp[:10] == today else f"{stamp[5:10]} {clock[:8]}"


def info(message: str) -> None:
    """Progress for people goes to stderr so stdout stays clean for pipes."""
    err_console().print(message)


def progress(message: str) -> None:
    """Progress only for a person at a terminal; scripts see just results and errors."""
    if err_console().is_terminal:
        err_console().print(message)
