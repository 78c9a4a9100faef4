"""Settings, read once from the environment and passed in (never read at import time).

Every value is checked here, so a bad one is one clear line naming its variable before
anything starts. The topic prefix becomes part of topic, group, schema and channel
names; `PREFIXED_NAMES` lists the longest of each with its limit, and the prefix may be
as long as the tightest of them leaves room for (`PREFIX_MAX`), so no name is ever cut
short or refused later (two stores' schemas truncated to one, a NOTIFY that fails).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from adapters.credentials import CLI, KafkaConnection, KafkaSecurity
from adapters.credentials import SettingsError as SettingsError  # its home since credentials
from adapters.credentials import from_env as kafka_from_env

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
_HOST_PORT = re.compile(r"^[A-Za-z0-9._\-\[\]:]+:(\d{1,5})$")
_PREFIX = re.compile(r"^[A-Za-z0-9._-]*$")
_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")
SERVICE_FIELD = "{service}"  # in ORDERFLOW_DATABASE_URL: each store's own PostgreSQL login


PG_NAME_BYTES = 63  # PostgreSQL identifiers and NOTIFY channels (NAMEDATALEN - 1)
# Every name the topic prefix is part of, at its longest ("{}" is the prefix), the limit
# on that name and what it is. The prefix is ASCII, so characters are bytes.
PREFIXED_NAMES = (
    ("outbox_{}orderflow_orchestrator", PG_NAME_BYTES,  # outbox_<schema>: 0005's trigger
     "PostgreSQL schema and channel names"),
    ("{}inventory.commands.dlq", 249, "Kafka topic names"),
    ("{}orderflow.orchestrator", 255, "consumer groups, stored in String(255) columns"),
)


def _prefix_limit() -> tuple[int, str]:
    """The longest prefix every name in PREFIXED_NAMES allows, and why."""
    return min((limit - len(template.format("")), f"{what}, {limit} bytes at most")
               for template, limit, what in PREFIXED_NAMES)


PREFIX_MAX, _PREFIX_LIMIT_REASON = _prefix_limit()
# ORDERFLOW_METRICS_PORT is a base: each service adds its offset (adapters/metrics.py
# SERVICE_PORT_OFFSETS, 0 to 6), and every port must still be a port.
METRICS_PORT_MAX = 65535 - 6


OPTIONAL_STEPS = ("fraud",)  # saga steps a deployment may add (ORDERFLOW_STEPS)
FLOWS = ("choreography", "orchestration")  # what ORDERFLOW_FLOWS chooses from ("both": each)


@dataclass(frozen=True, kw_only=True)
class Settings:
    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    database_url: str | None = None
    data_dir: Path = Path(".orderflow")
    topic_prefix: str = ""
    cache_dir: Path = PROJECT_ROOT / ".cache"
    order_timeout: timedelta = timedelta(seconds=30)
    step_timeout: timedelta = timedelta(seconds=5)
    retention: timedelta = timedelta(hours=168)  # processed ids, published outbox rows
    metrics_port: int = 0  # base port of the services' /metrics; 0: not served
    steps: frozenset[str] = frozenset()  # optional saga steps switched on (ORDERFLOW_STEPS)
    flows: frozenset[str] = frozenset(FLOWS)  # the flows this deployment runs (ORDERFLOW_FLOWS)
    log_format: str = "text"  # ORDERFLOW_LOG_FORMAT: text for people, json for machines
    kafka_security: KafkaSecurity = dataclasses.field(default_factory=KafkaSecurity)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        cache_dir = Path(env.get("ORDERFLOW_CACHE_DIR") or PROJECT_ROOT / ".cache")
        bootstrap, security = kafka_from_env(env, cache_dir)
        return cls(
            bootstrap_servers=_bootstrap(bootstrap or DEFAULT_BOOTSTRAP),
            kafka_security=security,
            database_url=_database_url(env.get("ORDERFLOW_DATABASE_URL") or None),
            data_dir=Path(env.get("ORDERFLOW_DATA_DIR") or ".orderflow"),
            topic_prefix=_prefix(env.get("ORDERFLOW_TOPIC_PREFIX", "")),
            cache_dir=cache_dir,
            order_timeout=_seconds(env.get("ORDERFLOW_ORDER_TIMEOUT") or "30",
                                   "ORDERFLOW_ORDER_TIMEOUT"),
            step_timeout=_seconds(env.get("ORDERFLOW_STEP_TIMEOUT") or "5",
                                  "ORDERFLOW_STEP_TIMEOUT"),
            retention=_hours(env.get("ORDERFLOW_RETENTION_HOURS") or "168",
                             "ORDERFLOW_RETENTION_HOURS"),
            metrics_port=_metrics_port(env.get("ORDERFLOW_METRICS_PORT") or "0"),
            steps=parse_steps(env.get("ORDERFLOW_STEPS") or ""),
            flows=parse_flows(env.get("ORDERFLOW_FLOWS") or "both"),
            log_format=parse_log_format(env.get("ORDERFLOW_LOG_FORMAT") or "text"),
        )

    def isolated(self, tag: str) -> Settings:
        """These settings for a run of its own: every topic, group and PostgreSQL schema
        under the prefix plus `tag`, SQLite files in a subdirectory named `tag`, so
        nothing of this run is read by another (a new consumer group reads its topics
        from the beginning)."""
        url = self.database_url
        if url is not None and not self.is_postgres:  # sqlite:///DIR: the files' directory
            url = f"{url.rstrip('/')}/{tag}"
        return dataclasses.replace(self, topic_prefix=_prefix(f"{self.topic_prefix}{tag}."),
                                   data_dir=self.data_dir / tag, database_url=url)

    def database_url_of(self, store: str) -> str | None:
        """The URL `store` connects with: `{service}` in ORDERFLOW_DATABASE_URL becomes the
        store's name, so each service logs in as its own PostgreSQL role (adapters/sql/roles.py)."""
        url = self.database_url
        return None if url is None else url.replace(SERVICE_FIELD, store)

    @property
    def per_service_roles(self) -> bool:
        return self.is_postgres and SERVICE_FIELD in (self.database_url or "")

    @property
    def is_postgres(self) -> bool:
        return self.database_url is not None and not self.database_url.startswith("sqlite")

    def kafka(self, principal: str = CLI) -> KafkaConnection:
        """How `principal`'s clients reach the cluster (see adapters/credentials.py)."""
        return self.kafka_security.connect(self.bootstrap_servers, principal)

    def kafka_environment(self) -> dict[str, str]:
        """Where Kafka is and how to reach it, as a child process's environment."""
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
                **self.kafka_security.environment()}

    @property
    def first_broker_port(self) -> int:
        return int(self.bootstrap_servers.split(",")[0].rsplit(":", 1)[1])


def _bootstrap(value: str) -> str:
    for address in value.split(","):
        match = _HOST_PORT.match(address.strip())
        if not match or not 0 < int(match.group(1)) < 65536:
            raise SettingsError(
                f"KAFKA_BOOTSTRAP_SERVERS: {address.strip()!r} is not host:port"
                " (e.g. 127.0.0.1:9092)"
            )
    return ",".join(a.strip() for a in value.split(","))


def _database_url(value: str | None) -> str | None:
    if value is None:
        return None
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in _SCHEMES:
        raise SettingsError(
            f"ORDERFLOW_DATABASE_URL: unsupported scheme {scheme or value!r}"
            " (use sqlite:///DIR or postgresql://USER:PASSWORD@HOST/DB)"
        )
    if scheme == "sqlite" and SERVICE_FIELD in value:  # a role per service is PostgreSQL's
        raise SettingsError(f"ORDERFLOW_DATABASE_URL: {SERVICE_FIELD} is for PostgreSQL roles;"
                            " SQLite keeps a file per service in DIR already (sqlite:///DIR)")
    return value


def parse_steps(value: str) -> frozenset[str]:
    """`fraud`, or empty: the optional saga steps of a deployment (comma-separated)."""
    steps = frozenset(s.strip() for s in value.split(",") if s.strip())
    unknown = sorted(steps - set(OPTIONAL_STEPS))
    if unknown:
        raise SettingsError(f"ORDERFLOW_STEPS: unknown step {unknown[0]!r}"
                            f" (known: {', '.join(OPTIONAL_STEPS)})")
    return steps


def parse_flows(value: str) -> frozenset[str]:
    """`choreography`, `orchestration` or `both`: the flows a deployment runs. Services
    keep only that flow's message-table rows, so their subscriptions (and the ACLs derived
    from them) follow; under choreography alone no orchestrator is deployed."""
    choice = value.strip().lower()
    if choice == "both":
        return frozenset(FLOWS)
    if choice not in FLOWS:
        raise SettingsError(f"ORDERFLOW_FLOWS: {value[:40]!r} is not a flow"
                            f" (choose {', '.join(FLOWS)} or both)")
    return frozenset({choice})


LOG_FORMATS = ("text", "json")  # adapters/logs.py writes each


def parse_log_format(value: str) -> str:
    """`text` (the default, for people) or `json` (one object per line, for machines).
    The CLI configures logging with it before anything else is read (cli/app.py)."""
    choice = value.strip().lower() or "text"
    if choice not in LOG_FORMATS:
        raise SettingsError(f"ORDERFLOW_LOG_FORMAT: {value[:40]!r} is not a log format"
                            f" (choose {' or '.join(LOG_FORMATS)})")
    return choice


def _seconds(value: str, name: str) -> timedelta:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= 86400:
        raise SettingsError(f"{name}: expected seconds between 0.1 and 86400, got {value[:20]!r}")
    return timedelta(seconds=seconds)


def _hours(value: str, name: str) -> timedelta:
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 100_000:  # also refuses nan and inf
        raise SettingsError(f"{name}: expected hours above 0 and at most 100000 (e.g. 168),"
                            f" got {value[:20]!r}")
    return timedelta(hours=hours)


def _metrics_port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= METRICS_PORT_MAX:
        raise SettingsError(f"ORDERFLOW_METRICS_PORT: expected a port between 1 and"
                            f" {METRICS_PORT_MAX} (each service adds up to 5), or 0 for no"
                            f" metrics; got {value[:20]!r}")
    return port


def _prefix(value: str) -> str:
    if not _PREFIX.match(value):
        raise SettingsError(
            "ORDERFLOW_TOPIC_PREFIX: use only A-Z a-z 0-9 . _ - (got "
            f"{value[:40]!r})"
        )
    if len(value) > PREFIX_MAX:
        raise SettingsError(f"ORDERFLOW_TOPIC_PREFIX: at most {PREFIX_MAX} characters"
                            f" (it is part of {_PREFIX_LIMIT_REASON}); got {len(value)}")
    return value
