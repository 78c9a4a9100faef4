"""Every topic's name, partitions and configs, in one place. A prefix isolates a run."""

from __future__ import annotations

from dataclasses import dataclass, field

EVENT_PARTITIONS = 6
COMMAND_PARTITIONS = 6
DLQ_PARTITIONS = 1
DLQ_SUFFIX = ".dlq"  # `<topic>.dlq`: where a topic's dead letters go
# Inputs accept records up to 2 MiB so an oversized one reaches a consumer, which sends
# it to the DLQ (a broker refusal would be invisible to the system instead).
_MAX = {"max.message.bytes": str(2 * 1024 * 1024)}
_KEEP_FOREVER = {"retention.ms": "-1", "cleanup.policy": "delete", **_MAX}  # replayable
_COMMANDS = {"retention.ms": str(7 * 24 * 3600 * 1000), **_MAX}

# `dead-letters` carries notices of dead letters for the read models (adapters/notices.py).
# `fraud` and `fraud.commands` belong to the optional fraud step (ORDERFLOW_STEPS=fraud):
# created always, so a deployment can switch the step on without a topic change.
EVENT_TOPICS = ("orders", "inventory", "payments", "shipping", "sagas", "dead-letters", "fraud")
COMMAND_TOPICS = ("orders.commands", "inventory.commands", "payments.commands",
                  "shipping.commands", "fraud.commands")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(prefix: str = "") -> list[TopicSpec]:
    specs = [TopicSpec(prefix + t, EVENT_PARTITIONS, dict(_KEEP_FOREVER)) for t in EVENT_TOPICS]
    specs += [TopicSpec(prefix + t, COMMAND_PARTITIONS, dict(_COMMANDS)) for t in COMMAND_TOPICS]
    sources = EVENT_TOPICS + COMMAND_TOPICS
    dlq = {**_KEEP_FOREVER, "max.message.bytes": str(8 * 1024 * 1024)}  # holds oversized poison
    specs += [TopicSpec(f"{prefix}{t}{DLQ_SUFFIX}", DLQ_PARTITIONS, dict(dlq)) for t in sources]
    return specs


def topic_name(prefix: str, base: str) -> str:
    return prefix + base
