"""`orderflow dlq list | show ID | redrive ID|--all`: dead letters you can work with.

Every store's dead letters (records its consumer group could not decode or handle) and
quarantined outbox rows (records Kafka refused for good), read and redriven through
`app.dead_letters()` (services/dead_letters.py says why a redrive is handled exactly
once). An ID is a message id or its first characters (`list` shows eight).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import emit_json, info, table

if TYPE_CHECKING:
    from adapters.sql.dead_letters import Letter
    from services.dead_letters import Redriven, Shown, Skipped

app = typer.Typer(help="Dead letters and quarantined outbox rows, in every store.",
                  no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
Topic = Annotated[str | None, typer.Option(
    help="Only records from this source topic (its name without the prefix: orders).")]
SHOWN_BYTES = 4096  # of a value, in the table view (--json has all of it)


def _letter_id(value: str | None) -> str | None:
    from services.dead_letters import ID_PATTERN  # the command loads it anyway

    if value is not None and not ID_PATTERN.match(value):
        raise typer.BadParameter(f"expected a dead letter id (hex digits, as `dlq list`"
                                 f" shows), got {value[:40]!r}")
    return value


LetterId = Annotated[str, typer.Argument(metavar="ID", callback=_letter_id,
                                         help="A dead letter id, or its first characters.")]


@app.command("list")
def list_(ctx: typer.Context, topic: Topic = None,
          wide: Annotated[bool, typer.Option("--wide", help="Full ids and errors.")] = False,
          json: Json = False) -> None:
    """Dead letters and quarantined rows of every store, in the order they failed."""
    letters = app_of(ctx).dead_letters().letters(topic)
    if json:
        emit_json([_summary(letter) for letter in letters])
        return
    if not letters:
        typer.echo("no dead letters and no quarantined rows")
        return
    waiting = sum(letter.waiting for letter in letters)
    info(f"{len(letters)} dead letters and quarantined rows, {waiting} waiting")
    typer.echo(_listing(letters, app_of(ctx).settings.topic_prefix, wide))


@app.command()
def show(ctx: typer.Context, letter_id: LetterId, json: Json = False) -> None:
    """Everything about one: where it came from, the error, headers and the value."""
    shown = app_of(ctx).dead_letters().show(letter_id)
    if json:
        emit_json(_detail(shown))
        return
    from rich.markup import escape  # values are data, never markup

    letter = shown.letter
    table(f"{letter.kind} {letter.message_id}", ["field", "value"],
          [(k, "-" if v is None else escape(str(v))) for k, v in _fields(letter)])
    table("headers", ["header", "value"], [(k, escape(v)) for k, v in letter.headers])
    typer.echo(_value_text(shown))


@app.command()
def redrive(ctx: typer.Context,
            letter_id: Annotated[str | None, typer.Argument(
                metavar="[ID]", callback=_letter_id, help="The one to send back.")] = None,
            every: Annotated[bool, typer.Option("--all", help="Every one still to redrive.")]
            = False,
            topic: Topic = None, json: Json = False) -> None:
    """Send dead letters back to their source topic, published by the CLI (quarantined
    rows back to their store's relay). A dead letter goes back once; exit 1 when a copy
    could not be sent yet (the next redrive sends it first)."""
    if (letter_id is None) == (not every):
        raise typer.BadParameter("give an ID or --all (not both)")
    if topic is not None and not every:
        raise typer.BadParameter("--topic goes with --all", param_hint="--topic")
    letters = app_of(ctx).dead_letters()
    outcome = letters.redrive_all(topic) if every else letters.redrive(letter_id or "")
    if json:
        emit_json({"redriven": [_redriven(r) for r in outcome.redriven],
                   "skipped": [{**_summary(s.letter), "reason": s.reason}
                               for s in outcome.skipped],
                   "unsent": outcome.unsent, "why": outcome.why})
    else:
        _report(outcome.redriven, outcome.skipped, app_of(ctx).settings.topic_prefix)
    if outcome.unsent:
        info(f"{outcome.unsent} copies queued but not sent yet ({outcome.why});"
             " `orderflow dlq redrive --all` sends them")
        raise typer.Exit(1)


def _report(done: list[Redriven], skipped: list[Skipped], prefix: str) -> None:
    for each in skipped:
        info(f"skipped {each.letter.message_id[:8]}: {each.reason}")
    if not done:
        typer.echo(f"nothing to redrive{f' ({len(skipped)} skipped)' if skipped else ''}")
        return
    table(f"redriven: {len(done)} (copies sent by the CLI, released rows by their relay)",
          ["id", "store", "kind", "to", "order", "outbox"],
          [(r.letter.message_id[:8], r.letter.store, r.letter.kind,
            r.letter.source_topic.removeprefix(prefix), _short(r.letter.order_id),
            "released" if r.copy_row is None else f"row {r.copy_row}") for r in done])


def _listing(letters: list[Letter], prefix: str, wide: bool) -> str:
    """kubectl-like, no borders. Within 80 columns (or the terminal's width) each entry
    takes two lines, the second its error, cut to fit; --wide: one line, all in full."""
    columns = ["ID", "STORE", *(["KIND", "REDRIVEN"] if wide else ["STATE"]), "SOURCE",
               "ORDER", "AGE", *(["ERROR"] if wide else [])]
    now = datetime.now(UTC)
    rows = [_cells(letter, prefix, wide, now) for letter in letters]
    widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(columns)]
    if wide:
        return "\n".join(_line(cells, widths) for cells in [columns, *rows])
    room = shutil.get_terminal_size((80, 24)).columns - widths[0] - 2
    lines = [_line(columns, widths)]
    for row, letter in zip(rows, letters, strict=True):
        error = _one_line(letter)
        cut = error if len(error) <= room else error[:room - 1] + "…"
        lines += [_line(row, widths), " " * (widths[0] + 2) + cut]
    return "\n".join(lines)


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
                     ).rstrip()


def _one_line(letter: Letter) -> str:
    return " ".join(f"{letter.error_type}: {letter.error}".split())


def _cells(letter: Letter, prefix: str, wide: bool, now: datetime) -> list[str]:
    if wide:
        return [letter.message_id, letter.store, letter.kind, letter.redriven_at or "-",
                _source(letter, prefix), letter.order_id or "-", _age(letter.at, now),
                _one_line(letter)]
    return [_short(letter.message_id), letter.store, _state(letter), _source(letter, prefix),
            _short(letter.order_id), _age(letter.at, now)]


def _state(letter: Letter) -> str:
    return letter.kind if letter.waiting else "redriven"


def _source(letter: Letter, prefix: str = "") -> str:
    """`topic[partition]@offset` (a quarantined row has no partition yet)."""
    where = f"[{letter.partition}]@{letter.offset}" if letter.partition is not None else ""
    return f"{letter.source_topic.removeprefix(prefix)}{where}"


def _age(at: str, now: datetime) -> str:
    try:
        seconds = int((now - datetime.fromisoformat(at)).total_seconds())
    except (ValueError, TypeError):
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _short(text: str | None) -> str:
    return text[:8] if text else "-"


def _summary(letter: Letter) -> dict[str, Any]:
    return {"id": letter.message_id, "store": letter.store, "kind": letter.kind,
            "row": letter.row, "topic": letter.topic, "source_topic": letter.source_topic,
            "partition": letter.partition, "offset": letter.offset,
            "order_id": letter.order_id, "consumer_group": letter.group,
            "error_type": letter.error_type, "error": letter.error, "at": letter.at,
            "quarantined_at": letter.quarantined_at, "attempts": letter.attempts,
            "redriven_at": letter.redriven_at, "waiting": letter.waiting}


def _detail(shown: Shown) -> dict[str, Any]:
    letter, value = shown.letter, shown.value
    return {**_summary(letter), "key": letter.key, "created_at": letter.created_at,
            "published_at": letter.published_at, "headers": dict(letter.headers),
            "value_size": None if value is None else len(value),
            "value": None if value is None else value.decode(errors="backslashreplace"),
            "envelope": shown.document, "decodes": shown.decode_error is None,
            "decode_error": shown.decode_error}


def _fields(letter: Letter) -> list[tuple[str, Any]]:
    return [("store", f"{letter.store} (outbox row {letter.row})"), ("kind", letter.kind),
            ("source", _source(letter)), ("topic", letter.topic), ("key", letter.key),
            ("order", letter.order_id), ("group", letter.group),
            ("error", f"{letter.error_type}: {letter.error}"), ("at", letter.at),
            ("published", letter.published_at), ("quarantined", letter.quarantined_at),
            ("attempts", letter.attempts), ("redriven", letter.redriven_at),
            ("waiting", "yes" if letter.waiting else "no (redriven)")]


def _value_text(shown: Shown) -> str:
    import json

    if shown.value is None:
        return "value: none (a tombstone)"
    verdict = "decodes" if shown.decode_error is None else \
        f"does not decode: {shown.decode_error}"
    head = f"value ({len(shown.value):,} bytes; {verdict}):"
    body = json.dumps(shown.document, indent=2, ensure_ascii=False) \
        if shown.document is not None else shown.value.decode(errors="backslashreplace")
    if len(body) > SHOWN_BYTES:
        body = body[:SHOWN_BYTES] + f"\n… ({len(body) - SHOWN_BYTES:,} more; --json has all)"
    return f"{head}\n{body}"


def _redriven(done: Redriven) -> dict[str, Any]:
    return {**_summary(done.letter), "copy_row": done.copy_row,
            "released": done.copy_row is None}
