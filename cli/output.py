"""What the CLI prints: rich tables for people, one JSON document for scripts.

The rich consoles are made on first use (`console()`, `err_console()`), so a command
that prints only JSON, or only an error line, never imports rich's console machinery.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@cache
def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=str, sort_keys=True) + "\n")
    sys.stdout.flush()


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    view = Table(title=title, title_justify="left")
    for column in columns:
        view.add_column(column, overflow="fold")  # piped output: wrap, never cut values
    for row in rows:
        view.add_row(*("" if cell is None else str(cell) for cell in row))
    console().print(view)


def info(message: str) -> None:
    """Progress for people goes to stderr so stdout stays clean for pipes."""
    err_console().print(message)


def progress(message: str) -> None:
    """Progress only for a person at a terminal; scripts see just results and errors."""
    if err_console().is_terminal:
        err_console().print(message)
