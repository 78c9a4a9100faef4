"""Stage drills: break a running `orderflow up` on purpose, from outside, and watch it hold.

A workshop kills a service, freezes one, freezes the broker, or sends a record nothing
can decode, and watches the guarantees do their work (README, *Drills for the stage*).
The drills find `up`'s services through the state file its supervisor keeps
(services/supervisor.py, `UP_STATE`), rewritten after every restart, so a drill signals
the process that runs now, never one from before.

What a drill guarantees, and why:

- it refuses before it acts: no running `up` (no state file, or one whose supervisor is
  gone), a service that `up` does not run, or a topic the run does not have is a typed
  error (one line in the CLI), and nothing is signalled or written;
- a paused process is always resumed: `paused` sends SIGCONT in a `finally`, so Ctrl-C,
  or any error, during the pause still lets it go on. That matters: the supervisor
  restarts only the dead, and a paused service has not exited, so a pause left behind
  would freeze it until `up` stops;
- poison is one record on the topic, acknowledged by the broker before the drill says
  where it is (partition, offset), through the one Kafka client module every producer
  of the system uses.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.credentials import Kafka
from adapters.kafka.topics import COMMAND_TOPICS, EVENT_TOPICS, topic_name
from domain.errors import OrderflowError
from services.supervisor import UP_STATE, is_alive

if TYPE_CHECKING:
    from services.bootstrap import Orderflow

POISON = b"not json {"  # no decoder takes it: every group reading the topic dead-letters it
POISON_KEY = b"drill-poison"
# What a service reads, and so what poison can reach; the dead-letter topics are read by none.
TOPICS = EVENT_TOPICS + COMMAND_TOPICS
ACK_TIMEOUT = 30.0  # seconds the poison's delivery report may take
Send = Callable[[int, int], None]  # os.kill's shape: (pid, signal)


class DrillRefused(OrderflowError):
    """A drill that cannot act; nothing was signalled or written."""


class NoRunningUp(DrillRefused):
    """No `orderflow up` runs on this data dir."""


class NotUnderUp(DrillRefused):
    """A service the running `up` does not run, or one it is restarting right now."""


class NotATopic(DrillRefused):
    """A topic name the run does not have."""


class NotDelivered(OrderflowError):
    """The broker refused the poison record, or did not acknowledge it in time."""


@dataclass(frozen=True, slots=True)
class Supervised:
    """One service of a running `up`: its current process, its restarts so far, its log."""

    name: str
    pid: int
    restarts: int
    log: Path


@dataclass(frozen=True, slots=True)
class Up:
    """A running `orderflow up` (or `run A B`), as its state file says."""

    pid: int  # the supervisor's
    services: Mapping[str, Supervised]

    def service(self, name: str) -> Supervised:
        found = self.services.get(name)
        if found is None:
            raise NotUnderUp(f"{name!r} is not a service of the running `orderflow up`"
                             f" (pid {self.pid}); it runs: {', '.join(self.services)}")
        if not is_alive(found.pid):
            raise NotUnderUp(f"{name} (pid {found.pid}) has exited and `up` is restarting"
                             " it; try again in a moment")
        return found


def running_up(data_dir: Path) -> Up:
    """The `up` running on `data_dir`, from its state file; NoRunningUp if there is none."""
    state_file = data_dir / UP_STATE
    try:
        up = _parsed(json.loads(state_file.read_text()))
    except FileNotFoundError:
        raise NoRunningUp(f"no `orderflow up` runs on data dir {data_dir} (no {state_file});"
                          " start one with `orderflow up`") from None
    except (OSError, ValueError) as error:
        raise NoRunningUp(f"{state_file} cannot be read ({error}); start `orderflow up`"
                          " again") from error
    if not is_alive(up.pid):
        raise NoRunningUp(f"the `orderflow up` of {state_file} (pid {up.pid}) is no longer"
                          " running; start one with `orderflow up`")
    return up


def _parsed(state: Any) -> Up:
    """The state file's document (services/supervisor.py `_write_state`); ValueError if
    it is not one. Every pid must be a real one: signalling pid 0 or -1 would reach a
    whole process group, or every process of the user."""
    try:
        services = {name: Supervised(name, _pid(s["pid"]), int(s["restarts"]), Path(s["log"]))
                    for name, s in state["services"].items()}
        return Up(_pid(state["pid"]), services)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not a state file of `up`: {error!r}") from error


def _pid(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 1:
        raise ValueError(f"not a process id: {value!r}")
    return value


def kill(pid: int, send: Send = os.kill) -> None:
    """SIGKILL: no batch finishes, nothing is flushed; `up` restarts the service."""
    _signal(pid, signal.SIGKILL, send)


@contextlib.contextmanager
def paused(pid: int, send: Send = os.kill) -> Iterator[None]:
    """SIGSTOP `pid` for the body, and SIGCONT it after, however the body ends."""
    _signal(pid, signal.SIGSTOP, send)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed meanwhile: nothing to resume
            send(pid, signal.SIGCONT)


def _signal(pid: int, signum: int, send: Send) -> None:
    try:
        send(pid, signum)
    except ProcessLookupError:
        raise NotUnderUp(f"pid {pid} has exited meanwhile; nothing was done") from None


def topic_of(base: str, prefix: str) -> str:
    """The run's name of topic `base` (e.g. `orders`, `inventory.commands`)."""
    if base not in TOPICS:
        unprefixed = f" (names without the prefix {prefix!r})" if prefix else ""
        raise NotATopic(f"{base[:60]!r} is not a topic of this run; choose from"
                        f" {', '.join(TOPICS)}{unprefixed}")
    return topic_name(prefix, base)


def readers(app: Orderflow, topic: str, services: Iterable[str]) -> list[str]:
    """Which of `services` consume `topic` (its full name): each one's group dead-letters
    a poison record there on its own, in its own store."""
    return [service for service in services if topic in _subscriptions(app, service)]


def _subscriptions(app: Orderflow, service: str) -> list[str]:
    if service == "projector":  # not a message-table service: it reads every event topic
        return app.projector().topics
    return app.messages(service).topics(app.settings.topic_prefix)


def session_timeout() -> float:
    """Seconds after which a silent (paused) member leaves its consumer group."""
    from adapters.kafka.client import consumer_config

    return float(consumer_config("", "")["session.timeout.ms"]) / 1000


def poison(bootstrap: Kafka, topic: str, timeout: float = ACK_TIMEOUT) -> tuple[int, int]:
    """Produce one undecodable record to `topic`; its (partition, offset) once acknowledged."""
    from confluent_kafka import Producer

    from adapters.kafka.client import produce, producer_config

    reports: list[tuple[Any, Any]] = []
    producer = Producer(producer_config(bootstrap))
    produce(producer, topic=topic, key=POISON_KEY, value=POISON,
            on_delivery=lambda error, message: reports.append((error, message)))
    producer.flush(timeout)
    if not reports:
        raise NotDelivered(f"{topic}: the broker did not acknowledge the poison record within"
                           f" {timeout:g} s; it may or may not be written")
    error, message = reports[0]
    if error is not None:
        raise NotDelivered(f"{topic}: the broker refused the poison record: {error.str()}")
    return int(message.partition()), int(message.offset())
