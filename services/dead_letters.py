"""Dead letters you can work with: list, show and redrive them, across every store.

Each service's store holds the dead letters its consumer group wrote and the outbox rows
its relay quarantined (adapters/sql/dead_letters.py); this use case looks at all of
them, and changes one store at a time, in one transaction, with no Kafka I/O inside it.

A dead letter's copy goes back to its source topic: a topic the consuming service reads
and, on a secured cluster, may not write. So the copy is queued for the CLI's principal
(`outbox.publisher`, migrations/versions/0009), which may write every event and command
topic, and once the transaction has committed the CLI's relay publishes it, as the
store's relay would: marked only after the broker's ack. A copy the broker does not take
now stays queued and is reported; the next redrive (of anything) sends it too. A
released quarantined row and the notice to the read models stay the store's relay's:
they go to topics the service itself publishes.

Redriving a dead letter queues a copy of the original record (same key, same bytes,
headers rebuilt from its envelope plus `redrive_of`) for the original topic and marks
the dead letter redriven, both in one transaction. That is exactly once by construction:

- the group that dead-lettered the record recorded the dead letter's own id (a uuid5 of
  group, topic, partition and offset) as processed, never the record's event id, so it
  handles the copy, once;
- every group that handled the original recorded its event id, so it skips the copy;
- a dead letter goes back once: a second redrive is refused, and the mark is taken by a
  conditional update, so two racing redrives still queue one copy. If the copy fails
  again, that is a new dead letter (a new offset, a new id), redrivable in its turn.

A record that still does not decode is refused: its copy would only be dead-lettered
again, by every group reading the topic. A quarantined row is redriven by giving it back
to the relay (quarantine and refusal count cleared), whenever it is quarantined.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy import Connection, Engine

from adapters.codec import DecodeError, Envelope, decode
from adapters.credentials import CLI
from adapters.kafka.topics import COMMAND_TOPICS, DLQ_SUFFIX, EVENT_TOPICS
from adapters.notices import DeadLetterRedriven
from adapters.sql import dead_letters as stored
from adapters.sql.dead_letters import DEAD_LETTER, Letter, notice_row
from adapters.sql.engine import READONLY
from adapters.sql.event_store import headers_text
from adapters.sql.transaction import write
from domain.errors import OrderflowError
from domain.ids import InvalidIdentifier, validate_order_id
from services.clock import Clock

ID_PATTERN = re.compile(r"^[0-9a-fA-F-]{4,36}$")  # a message id, or its first characters
KEY_MAX = 255  # the outbox's key column
_REDRIVE_NAMESPACE = uuid.UUID("6b1f3c52-9d0e-4e8a-b7a4-2c5d8e1f0a93")
T = TypeVar("T")


class NoSuchLetter(OrderflowError):
    """No dead letter or quarantined row has this id."""


class AmbiguousId(OrderflowError):
    """The id's first characters match more than one dead letter or quarantined row."""


class RedriveRefused(OrderflowError):
    """This one cannot be redriven (already redriven, not quarantined any more, ...)."""


class UnknownTopic(OrderflowError):
    """A topic orderflow does not have."""


@dataclass(frozen=True, slots=True)
class Shown:
    """A letter with its value: the original record's bytes (None: a tombstone)."""

    letter: Letter
    value: bytes | None
    document: Any  # the value parsed as JSON, or None when it is not JSON
    decode_error: str | None  # None: the value is an envelope this code decodes


@dataclass(frozen=True, slots=True)
class Redriven:
    letter: Letter
    copy_row: int | None  # the outbox row of a dead letter's copy; None: a row released


@dataclass(frozen=True, slots=True)
class Skipped:
    letter: Letter
    reason: str


@dataclass(frozen=True, slots=True)
class Redrives:
    """What one redrive did: sent back, skipped, and copies still queued (the broker did
    not take them this time; `why` says what it said)."""

    redriven: list[Redriven]
    skipped: list[Skipped]
    unsent: int = 0
    why: str | None = None


class Publisher(Protocol):
    """The CLI's relay of one store (adapters/relay.py, publisher `cli`)."""

    def publish_pending(self) -> int: ...
    def pending(self) -> int: ...
    def close(self) -> None: ...


class DeadLetters:
    def __init__(self, engines: Mapping[str, Engine], topic_prefix: str, clock: Clock,
                 publishers: Callable[[str], Publisher]) -> None:
        self.engines, self.prefix, self.clock = engines, topic_prefix, clock
        self.publishers = publishers

    def letters(self, topic: str | None = None) -> list[Letter]:
        """Every store's dead letters and quarantined rows, in the order they failed."""
        sources = None if topic is None else [self.source_topic(topic)]
        found = [letter for store, engine in self.engines.items()
                 for letter in _read(engine, stored.letters, store, sources)]
        return sorted(found, key=lambda letter: (letter.at, letter.store, letter.row))

    def waiting(self) -> dict[str, int]:
        """Per store, how many of its letters wait to be redriven (`Letter.waiting`: what
        `redrive --all` would send back), counted in the database, not loaded."""
        return {store: _read(engine, stored.waiting_count)
                for store, engine in self.engines.items()}

    def show(self, letter_id: str) -> Shown:
        letter = self.find(letter_id)
        value = _read(self.engines[letter.store], stored.value, letter.row)
        document, error = _inspect(value)
        return Shown(letter, value, document, error)

    def find(self, letter_id: str) -> Letter:
        """The one letter whose id starts with `letter_id` (copies of one message in one
        store, a re-sent event quarantined twice, count as one: the first stands for it)."""
        if not ID_PATTERN.match(letter_id):
            raise NoSuchLetter(f"{letter_id[:40]!r} is not a dead letter id")
        found: dict[tuple[str, str], Letter] = {}
        for store, engine in self.engines.items():
            for letter in _read(engine, stored.matching, store, letter_id):
                found.setdefault((store, letter.message_id), letter)
        if not found:
            raise NoSuchLetter(f"no dead letter or quarantined row {letter_id}"
                               " (see `orderflow dlq list`)")
        if len(found) > 1:
            ids = ", ".join(sorted(m for _, m in found)[:4])
            raise AmbiguousId(f"id {letter_id} matches {len(found)} entries ({ids});"
                              " give more of it")
        return next(iter(found.values()))

    def redrive(self, letter_id: str) -> Redrives:
        """Send one back, in one transaction on the store that holds it; then publish
        every store's queued copies (those an earlier redrive left too)."""
        letter = self.find(letter_id)
        with write(self.engines[letter.store]) as connection:
            done = self._redrive(connection, letter)
        return Redrives([done], [], *self.send(self.engines))

    def redrive_all(self, topic: str | None = None) -> Redrives:
        """Send back everything waiting (from `topic`), one transaction per store; then
        publish every store's queued copies (those an earlier redrive left too)."""
        done: list[Redriven] = []
        skipped: list[Skipped] = []
        for store, pending in self._waiting(topic).items():
            with write(self.engines[store]) as connection:
                for letter in pending:
                    try:
                        done.append(self._redrive(connection, letter))
                    except RedriveRefused as exc:
                        skipped.append(Skipped(letter, str(exc)))
        return Redrives(done, skipped, *self.send(self.engines))

    def send(self, stores: Iterable[str]) -> tuple[int, str | None]:
        """Publish the copies queued in `stores` as the CLI: how many still wait, and the
        first reason. Each is marked sent only after the broker's ack."""
        unsent, why = 0, None
        for store in stores:
            relay = self.publishers(store)
            try:
                while relay.publish_pending():
                    pass
            except OrderflowError as exc:  # the copies stay queued
                why = why or f"{store}: {exc}"
            finally:
                relay.close()
            unsent += relay.pending()
        return unsent, why

    def source_topic(self, name: str) -> str:
        """A source topic's full name from its base name (`orders`) or full name, with or
        without `.dlq`."""
        base = name.removesuffix(DLQ_SUFFIX)
        base = base.removeprefix(self.prefix) if base not in _SOURCES else base
        if base not in _SOURCES:
            raise UnknownTopic(f"unknown topic {name[:60]!r}; choose from"
                               f" {', '.join(_SOURCES)}")
        return self.prefix + base

    def _waiting(self, topic: str | None) -> dict[str, list[Letter]]:
        by_store: dict[str, list[Letter]] = {}
        for letter in self.letters(topic):
            if letter.waiting:
                by_store.setdefault(letter.store, []).append(letter)
        return by_store

    def _redrive(self, connection: Connection, letter: Letter) -> Redriven:
        now = self.clock().isoformat()
        if letter.kind != DEAD_LETTER:
            if not stored.release(connection, letter.message_id, now):
                raise RedriveRefused(f"{_short(letter)} is not quarantined any more"
                                     " (the relay has it)")
            return Redriven(letter, None)
        copy, envelope = _copy(letter, stored.value(connection, letter.row), now)
        if not stored.mark_redriven(connection, letter.row, now):
            raise RedriveRefused(f"dead letter {_short(letter)} was already redriven at"
                                 f" {letter.redriven_at or 'this moment'}; a copy that failed"
                                 " again is a dead letter of its own")
        queued = stored.enqueue(connection, copy)
        stored.enqueue(connection, self._notice(letter, envelope))
        return Redriven(letter, queued)

    def _notice(self, letter: Letter, envelope: Envelope) -> dict[str, Any]:
        """Tells the read models the dead letter went back (see adapters/notices.py)."""
        redriven = DeadLetterRedriven(dead_letter_id=letter.message_id,
                                      order_id=_order_of(letter))
        return notice_row(redriven, self.prefix, self.clock(), envelope)


_SOURCES = EVENT_TOPICS + COMMAND_TOPICS


def _read(engine: Engine, query: Callable[..., T], *args: Any) -> T:
    with engine.connect().execution_options(**READONLY) as connection:
        return query(connection, *args)


def _inspect(value: bytes | None) -> tuple[Any, str | None]:
    """The value as JSON (if it is JSON), and why it does not decode (None: it does)."""
    try:
        decode(value)
        error = None
    except DecodeError as exc:
        error = str(exc)
    try:
        return (None if value is None else orjson.loads(value)), error
    except orjson.JSONDecodeError:
        return None, error


def _copy(letter: Letter, value: bytes | None, now: str) -> tuple[dict[str, Any], Envelope]:
    """The outbox row of a dead letter's copy (the original key, bytes and headers), and
    the envelope it holds."""
    try:
        envelope = decode(value)
    except DecodeError as exc:
        raise RedriveRefused(f"dead letter {_short(letter)} still does not decode ({exc});"
                             " redriven, it would only be dead-lettered again") from None
    headers = [*headers_text(envelope), ("redrive_of", letter.message_id)]
    row = {"message_id": _message_id(envelope, letter), "topic": letter.source_topic,
           "key": _original_key(letter), "value": value,
           "headers": orjson.dumps(headers).decode(), "created_at": now, "publisher": CLI}
    return row, envelope


def _order_of(letter: Letter) -> str | None:
    try:
        return None if letter.order_id is None else validate_order_id(letter.order_id)
    except InvalidIdentifier:
        return None


def _original_key(letter: Letter) -> str:
    """The original key's bytes, as the outbox's text key (the relay encodes it UTF-8)."""
    exact = dict(letter.headers).get("original_key_hex")
    try:
        key = letter.key if exact is None else bytes.fromhex(exact).decode()
    except ValueError:  # not hex, or not UTF-8 (UnicodeDecodeError is a ValueError)
        key = None
    if key is None or len(key) > KEY_MAX:
        raise RedriveRefused(f"dead letter {_short(letter)} has a key that is not text of"
                             f" at most {KEY_MAX} characters; the outbox cannot carry it")
    return key


def _message_id(envelope: Envelope, letter: Letter) -> str:
    """The copy's outbox message id: its event id, as the event store's rows have."""
    if len(envelope.event_id) <= 36:
        return envelope.event_id
    return str(uuid.uuid5(_REDRIVE_NAMESPACE, letter.message_id))


def _short(letter: Letter) -> str:
    return letter.message_id[:8]
