"""How a Kafka client reaches the cluster and proves who it is, read once from the
environment (or from the local cluster `orderflow broker start` last started).

The settings keep librdkafka's own names: `KAFKA_SECURITY_PROTOCOL` is
`security.protocol`, `KAFKA_SASL_MECHANISM` is `sasl.mechanism`, `KAFKA_SSL_CA_LOCATION`
is `ssl.ca.location`, `KAFKA_SASL_USERNAME` / `KAFKA_SASL_PASSWORD` are `sasl.username` /
`sasl.password`. Each process speaks as one principal per client: a service's consumer and
relay as the service, the CLI's own reads and writes as `cli`, topic and ACL management as
`admin`. A password comes from `KAFKA_SASL_PASSWORD` (one identity for the whole process,
as a deployment that gives each service its own environment does) or from the 0600
credentials file (`ORDERFLOW_KAFKA_CREDENTIALS`, a JSON object principal → password, which
`broker start --secure` writes). Passwords never reach a log line, a repr or `--json`.

With `KAFKA_BOOTSTRAP_SERVERS` unset, the cluster of several nodes or the secured one
that `broker start` last started is used: its addresses and security, recorded in
`<cache>/broker/current.json` (as `kind` records the cluster it created for kubectl), so
`broker start --nodes 3 --secure && orderflow up` needs no exports; without that record
(starting one plaintext node removes it), 127.0.0.1:9092 in plaintext.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from domain.errors import OrderflowError

ADMIN = "admin"  # the only super user: creates topics, users and ACLs
CLI = "cli"  # the CLI's own writes (tutorial, drills) and its observers (tail, watch, lag)
SERVICE_PRINCIPALS = ("order", "inventory", "payment", "shipping", "orchestrator", "fraud",
                      "projector")
PRINCIPALS = (*SERVICE_PRINCIPALS, CLI)  # every principal but the admin
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
CONTEXT = Path("broker") / "current.json"  # under the cache: the cluster last started


class SettingsError(OrderflowError):
    """An environment variable holds a value orderflow cannot use (one line, exit 2)."""


class CredentialsError(SettingsError):
    """Kafka security settings orderflow cannot use."""


@dataclass(frozen=True)
class KafkaConnection:
    """Where the cluster is, and the librdkafka settings one principal connects with."""

    bootstrap: str
    security: Mapping[str, str] = field(default_factory=dict, repr=False)
    principal: str | None = None

    def at(self, address: str) -> KafkaConnection:
        """The same identity, talking to one address (a probe of one node)."""
        return KafkaConnection(address, self.security, self.principal)


Kafka = KafkaConnection | str  # a bare "host:port,…": that cluster, in plaintext


def connection(kafka: Kafka) -> KafkaConnection:
    return kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(kafka)


@dataclass(frozen=True, kw_only=True)
class KafkaSecurity:
    """A process's Kafka security settings; `connect(principal)` gives a client's."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    ca_location: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    credentials: Path | None = None
    passwords: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def connect(self, bootstrap: str, principal: str) -> KafkaConnection:
        config: dict[str, str] = {}
        if self.protocol != "PLAINTEXT":
            config["security.protocol"] = self.protocol
        if self.protocol.endswith("SSL") and self.ca_location is not None:
            config["ssl.ca.location"] = str(self.ca_location)
        if not self.sasl:
            return KafkaConnection(bootstrap, config, principal)
        user = self.username or principal
        config |= {"sasl.mechanism": self.mechanism or MECHANISMS[0], "sasl.username": user,
                   "sasl.password": self._password(user)}
        return KafkaConnection(bootstrap, config, user)

    def _password(self, user: str) -> str:
        if self.password is not None:
            return self.password
        if user in self.passwords:
            return self.passwords[user]
        where = f" or add it to {self.credentials}" if self.credentials else ""
        raise CredentialsError(f"no Kafka password for principal {user!r}: set"
                               f" KAFKA_SASL_PASSWORD{where}")

    def environment(self) -> dict[str, str]:
        """These settings as the environment of a child process (a password only by the
        file's path; one from KAFKA_SASL_PASSWORD reaches children as all env does)."""
        found = {"KAFKA_SECURITY_PROTOCOL": self.protocol}
        named = {"KAFKA_SASL_MECHANISM": self.mechanism, "KAFKA_SSL_CA_LOCATION": self.ca_location,
                 "KAFKA_SASL_USERNAME": self.username,
                 "ORDERFLOW_KAFKA_CREDENTIALS": self.credentials}
        return found | {k: str(v) for k, v in named.items() if v is not None}

    def described(self) -> dict[str, str | None]:
        """What `--json` may show: no password, ever."""
        return {"security.protocol": self.protocol, "sasl.mechanism": self.mechanism,
                "ssl.ca.location": None if self.ca_location is None else str(self.ca_location),
                "sasl.username": self.username,
                "credentials": None if self.credentials is None else str(self.credentials)}


def from_env(env: Mapping[str, str], cache_dir: Path) -> tuple[str | None, KafkaSecurity]:
    """(the bootstrap servers the environment or the local record names, the security)."""
    recorded = {} if env.get("KAFKA_BOOTSTRAP_SERVERS") else read_context(cache_dir)
    def get(name: str) -> str | None:
        return env.get(name) or recorded.get(name) or None
    protocol = (get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise CredentialsError(f"KAFKA_SECURITY_PROTOCOL: {protocol[:30]!r} is not one of"
                               f" {', '.join(PROTOCOLS)}")
    mechanism = get("KAFKA_SASL_MECHANISM")
    if mechanism is not None and mechanism.upper() not in MECHANISMS:
        raise CredentialsError(f"KAFKA_SASL_MECHANISM: {mechanism[:30]!r} is not a SASL"
                               f" mechanism orderflow supports ({', '.join(MECHANISMS)})")
    credentials = _path(get("ORDERFLOW_KAFKA_CREDENTIALS"))
    security = KafkaSecurity(
        protocol=protocol, mechanism=None if mechanism is None else mechanism.upper(),
        ca_location=_ca(get("KAFKA_SSL_CA_LOCATION")), username=get("KAFKA_SASL_USERNAME"),
        password=env.get("KAFKA_SASL_PASSWORD") or None, credentials=credentials,
        passwords=read_passwords(credentials) if credentials else {})
    return get("KAFKA_BOOTSTRAP_SERVERS"), security


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def _ca(value: str | None) -> Path | None:
    """The CA file must be there and readable now, not at the first TLS handshake."""
    if value is None:
        return None
    try:
        with Path(value).open("rb") as ca:
            first = ca.read(64)
    except OSError as exc:
        raise CredentialsError(f"KAFKA_SSL_CA_LOCATION: cannot read {value}:"
                               f" {exc.strerror or exc}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in first:
        raise CredentialsError(f"KAFKA_SSL_CA_LOCATION: {value} is not a PEM certificate")
    return Path(value)


def read_passwords(path: Path) -> dict[str, str]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"ORDERFLOW_KAFKA_CREDENTIALS: cannot read {path}:"
                               f" {getattr(exc, 'strerror', None) or exc}") from exc
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        raise CredentialsError(f"ORDERFLOW_KAFKA_CREDENTIALS: {path} is not a JSON object"
                               " of principal → password")
    return {str(k): v for k, v in loaded.items()}


def write_private(path: Path, content: str | bytes) -> None:
    """A secret file, 0600 from its first byte: never readable by others, not even for
    a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(content.encode() if isinstance(content, str) else content)


def read_context(cache_dir: Path) -> dict[str, str]:
    """The environment `broker start` recorded for the cluster it last started."""
    try:
        loaded = json.loads((cache_dir / CONTEXT).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def record_context(cache_dir: Path, environment: Mapping[str, str], *, plain: bool) -> None:
    """Record the cluster just started (addresses, file paths; never a password), or,
    for one plaintext node, forget any record: its port is all a command needs."""
    path = cache_dir / CONTEXT
    if plain:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(environment), indent=2) + "\n")
