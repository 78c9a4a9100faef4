"""Entry point: every failure becomes one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

import click

from adapters.settings import SettingsError
from domain.errors import OrderflowError

USAGE = 2
RUNTIME = 1
INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _stopped_while_starting)
    sys.exit(run(argv))


def _stopped_while_starting(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)  # nothing has happened yet: stopping now is a clean stop


def run(argv: list[str] | None = None) -> int:
    # typer and the command modules load here, after main() can take a SIGTERM; a command
    # imports what it needs when it runs (`orderflow run` installs its stop handlers first)
    import typer

    from cli.app import app

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # commands own their signals from here
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="orderflow", standalone_mode=False)
    except click.ClickException as exc:
        return _fail(_usage_line(exc), exc.exit_code)
    except SettingsError as exc:
        return _fail(str(exc), USAGE)
    except OrderflowError as exc:
        return _fail(str(exc), RUNTIME)
    except (KeyboardInterrupt, click.exceptions.Abort):
        return _fail("interrupted", INTERRUPTED)
    except Exception as exc:
        if os.environ.get("ORDERFLOW_DEBUG"):
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} "
                     "(set ORDERFLOW_DEBUG=1 for a traceback)", RUNTIME)
    if result == INTERRUPTED:  # typer turns Ctrl-C into Exit(130): still say so
        return _fail("interrupted", INTERRUPTED)
    return result if isinstance(result, int) else 0


def _usage_line(exc: click.ClickException) -> str:
    context = getattr(exc, "ctx", None)
    where = f"{context.command_path}: " if context is not None else ""
    return f"{where}{exc.format_message()} (see --help)"


def _fail(message: str, code: int) -> int:
    first = " ".join(message.split())  # one line, whatever the message held
    sys.stderr.write(f"orderflow: error: {first}\n")
    return code
