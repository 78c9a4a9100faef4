"""Logs for people, or for machines: text by default, JSON lines on request.

`ORDERFLOW_LOG_FORMAT=json` makes every line one JSON object with the same keys, always:
`time`, `level`, `logger`, `message`, `service`, `order_id`, `topic`, `partition`,
`offset` and `trace_id` (null when not known), plus `exception` when there is one. A
log shipper can index on them without parsing messages.

Where a line happened is said once, not at every call site. The process names its
service (`orderflow run SERVICE`; "cli" otherwise), and the consumer runtime says which
record it is applying (`applying`: order id, topic, partition, offset) in a context
variable; a filter on the one handler copies both onto every record (a library's,
librdkafka's, gets the service). A call that passes its own `extra=` wins. A context
variable is per thread, and a new thread starts without one, so the relay's and the
timers' lines never borrow the consumer's record.

`trace_id` stays null until tracing exists (issue 16 adds OpenTelemetry separately):
the correlation id is already `order_id`, and a trace id is not an order id. The key is
there now so that readers need not change when it fills in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

import orjson

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CLI = "cli"  # the service of a process that runs none
WHERE = ("order_id", "topic", "partition", "offset")  # what `applying` says
FIELDS = ("service", *WHERE, "trace_id")  # every record has these attributes

_applying: ContextVar[Mapping[str, Any] | None] = ContextVar("orderflow_applying", default=None)
_process = {"service": CLI, "format": "text"}  # set once per process, at start-up


def name_service(service: str) -> None:
    """This process runs `service`: every line it logs from now on says so."""
    _process["service"] = service


@contextmanager
def applying(topic: str, partition: int, offset: int,
             order_id: str | None = None) -> Iterator[None]:
    """Lines logged on this thread meanwhile are about this record (and its order)."""
    token = _applying.set({"order_id": order_id, "topic": topic, "partition": partition,
                           "offset": offset})
    try:
        yield
    finally:
        _applying.reset(token)


class Context(logging.Filter):
    """Gives every record the FIELDS (what the caller's `extra=` set stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        known = {"service": _process["service"], "trace_id": None,
                 **dict.fromkeys(WHERE), **(_applying.get() or {})}
        for key, value in known.items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line, every key always present."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "message": record.getMessage(),
            **{key: getattr(record, key, None) for key in FIELDS}}
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(document, default=str).decode()


def formatter(log_format: str) -> logging.Formatter:
    return JsonLines() if log_format == "json" else logging.Formatter(TEXT)


def handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing to `stream` (default stderr) in `log_format`, with the filter."""
    out = logging.StreamHandler(stream)
    out.addFilter(Context())
    out.setFormatter(formatter(log_format))
    return out


def configure(level: int, log_format: str) -> None:
    """The root logger, once per process (a root that already has a handler, as under
    pytest, is left alone, as `logging.basicConfig` does)."""
    logging.basicConfig(level=level, handlers=[handler(log_format)])
    _process["format"] = log_format


def line(level: int, name: str, message: str, service: str) -> str:
    """`message` as this process's handler would write it, for a line written to a log
    file by hand (the supervisor's restarts, in the service's own log)."""
    record = logging.LogRecord(name, level, __file__, 0, message, None, None)
    record.service = service
    Context().filter(record)
    return formatter(_process["format"]).format(record)
