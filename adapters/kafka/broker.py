"""The local Apache Kafka cluster: official jars on the local JDK, KRaft combined mode.

One node by default; `nodes=3` runs three, each a broker and a controller, with a
controller quorum of all three. Node N (1-based) listens on `port + 2(N-1)` and its
controller on the port after it, all on 127.0.0.1, so the default cluster of three is
9092/9093, 9094/9095, 9096/9097. Topics there get a replication factor of
min(3, nodes) and `min.insync.replicas` one less (2 on three nodes): an acknowledged
record (acks=all) is on two nodes at least, and one node may be down while every
partition still takes writes.

A node's files live under `<cache>/broker/<port>/` for one node and
`<cache>/broker/<port>-<nodes>nodes/node-<N>/` for more: config, data (kept across
stop/start), logs and the pid file. `start` starts whichever nodes are not running, so
it also brings back a node that died; every node of a cluster is formatted with the same
cluster id, kept in the cluster's `cluster.id`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from adapters.credentials import (
    ADMIN,
    PRINCIPALS,
    Kafka,
    KafkaSecurity,
    read_passwords,
    write_private,
)
from adapters.kafka import tls
from adapters.kafka.admin import PortState, broker_count, probe, upsert_scram_users
from adapters.kafka.errors import BrokerError
from adapters.kafka.jars import KAFKA_VERSION, java_major_version, resolve_jars

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MECHANISM = "SCRAM-SHA-512"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
MAX_NODES = 5  # five JVMs is as many as one laptop runs well
_LOG4J = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def check_nodes(nodes: int) -> None:
    """One line for a node count a local KRaft cluster cannot have."""
    if nodes < 1:
        raise BrokerError(f"--nodes {nodes}: a cluster needs at least one node")
    if nodes > MAX_NODES:
        raise BrokerError(f"--nodes {nodes}: at most {MAX_NODES} nodes run on one machine")
    if nodes % 2 == 0:
        raise BrokerError(f"--nodes {nodes}: a controller quorum needs an odd number of"
                          " nodes (1, 3 or 5)")


@dataclass(frozen=True)
class Layout:
    """Where each node of a local cluster listens, and how its topics replicate."""

    port: int
    nodes: int

    def __post_init__(self) -> None:
        check_nodes(self.nodes)
        last = self.controller_port(self.nodes)
        if self.port < 1 or last > 65535:
            raise BrokerError(f"port must be between 1 and {65536 - 2 * self.nodes},"
                              f" got {self.port}")

    def broker_port(self, node: int) -> int:
        return self.port + 2 * (node - 1)

    def controller_port(self, node: int) -> int:
        return self.broker_port(node) + 1

    @property
    def ids(self) -> range:
        return range(1, self.nodes + 1)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{HOST}:{self.broker_port(n)}" for n in self.ids)

    @property
    def replication(self) -> int:
        return min(3, self.nodes)

    @property
    def min_insync(self) -> int:
        return max(1, self.replication - 1)

    def properties(self, node: int, data: Path) -> dict[str, str]:
        """A node's server.properties (docker-compose.yml's cluster says the same)."""
        port, controller = self.broker_port(node), self.controller_port(node)
        voters = ",".join(f"{n}@{HOST}:{self.controller_port(n)}" for n in self.ids)
        rf, isr = str(self.replication), str(self.min_insync)
        return {
            "process.roles": "broker,controller",
            "node.id": str(node),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "3",
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "group.initial.rebalance.delay.ms": "0",
        }


def secure_properties(layout: Layout, node: int, files: tls.TlsFiles,
                      admin_password: str) -> dict[str, str]:
    """What `--secure` changes in a node's properties. Clients: SASL_SSL with
    SCRAM-SHA-512 (the nodes talk to each other there too, as `admin`). Controllers: TLS
    with client certificates, the node certificate's CN=admin being the principal (KRaft
    controllers do not take SCRAM). Authorization: StandardAuthorizer, nothing allowed
    without an ACL, `admin` the only super user."""
    port, controller = layout.broker_port(node), layout.controller_port(node)
    jaas = ("org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="{ADMIN}" password="{admin_password}";')
    return {
        "listeners": f"SASL_SSL://{HOST}:{port},CONTROLLER://{HOST}:{controller}",
        "advertised.listeners": f"SASL_SSL://{HOST}:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(files.keystore),
        "ssl.keystore.password": files.password(),
        "ssl.key.password": files.password(),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(files.ca),
        "listener.name.controller.ssl.client.auth": "required",
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
        "authorizer.class.name": AUTHORIZER,
        "super.users": f"User:{ADMIN}",
        "allow.everyone.if.no.acl.found": "false",
    }


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    state: str  # "running" | "stopped"
    address: str
    controller_address: str
    pid: int | None
    log_file: Path


@dataclass(frozen=True)
class BrokerStatus:
    state: str  # "running" | "degraded" (some nodes down) | "stopped" | "foreign"
    address: str  # the bootstrap list: every node
    version: str | None
    pid: int | None  # the first running node's (the broker's, on one node)
    log_file: Path  # node 1's
    nodes: tuple[NodeStatus, ...] = ()


class LocalNode:
    """One KRaft node: its files, its process."""

    def __init__(self, home: Path, node_id: int, layout: Layout) -> None:
        self.home, self.node_id, self.layout = home, node_id, layout

    @property
    def address(self) -> str:
        return f"{HOST}:{self.layout.broker_port(self.node_id)}"

    @property
    def controller_address(self) -> str:
        return f"{HOST}:{self.layout.controller_port(self.node_id)}"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    def live_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_broker(pid) else None

    def status(self) -> NodeStatus:
        pid = self.live_pid()
        return NodeStatus(self.node_id, "stopped" if pid is None else "running", self.address,
                          self.controller_address, pid, self.log_file)

    def quorum_leader(self) -> tuple[int, int] | None:
        """(leader epoch, leader id) as this node last saw the controller quorum."""
        state = self.home / "data" / "__cluster_metadata-0" / "quorum-state"
        try:
            seen = json.loads(state.read_text())
        except (OSError, ValueError):
            return None
        leader = int(seen.get("leaderId", -1))
        return (int(seen.get("leaderEpoch", -1)), leader) if leader > 0 else None

    def check_ports_free(self) -> None:
        for address in (self.address, self.controller_address):
            if probe(address, timeout=2.0) is not PortState.FREE:
                raise BrokerError(
                    f"port {address.rsplit(':', 1)[1]} on {HOST} is already in use by another"
                    " program; choose another with --port (node N listens on port+2(N-1),"
                    " its controller on the port after)")

    def write_config(self, extra: dict[str, str]) -> Path:
        """server.properties, 0600: a secure node's holds its passwords."""
        for sub in ("data", "logs"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        settings = self.layout.properties(self.node_id, self.home / "data") | extra
        write_private(config, "".join(f"{k}={v}\n" for k, v in settings.items()))
        (self.home / "log4j2.properties").write_text(_LOG4J.format(log=self.log_file))
        return config

    def format_storage(self, java: str, libs: Path, config: Path, cluster_id: str,
                       scram: list[str]) -> None:
        """Format once (data survives stop/start); `scram`: the `--add-scram` arguments
        that put the admin's credential into the metadata before any node runs."""
        if (self.home / "data" / "meta.properties").exists():
            return
        # `--cluster-id=ID`: an id may start with '-', which as its own argument is a flag
        command = [java, *self._jvm_flags(), "-cp", f"{libs}/*", "kafka.tools.StorageTool",
                   "format", f"--cluster-id={cluster_id}", "--config", str(config), *scram]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting storage of node {self.node_id} failed:"
                              f" {done.stdout}{done.stderr}"[:300])

    def spawn(self, java: str, libs: Path, config: Path) -> subprocess.Popen[bytes]:
        heap = "-Xmx1g" if self.layout.nodes == 1 else "-Xmx512m"
        command = [java, "-Xms256m", heap, "-XX:+UseG1GC", *self._jvm_flags(),
                   "-cp", f"{libs}/*", "kafka.Kafka", str(config)]
        with (self.home / "logs" / "stdout.log").open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=self.home,
                                       start_new_session=True)
        self.pid_file.write_text(str(process.pid))
        logger.info("started Kafka %s node %s on %s (pid %s)", KAFKA_VERSION, self.node_id,
                    self.address, process.pid)
        return process

    def kill(self) -> None:
        """SIGKILL the node (a crash, for drills and fault tests); its data stays."""
        pid = self.live_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)

    def stop(self, timeout: float = 30.0) -> str:
        """A graceful stop (controlled shutdown), SIGKILL after `timeout`; data is kept."""
        pid = self.terminate()
        if pid is None:
            return "not running"
        return self.reap(pid, time.monotonic() + timeout)

    def terminate(self) -> int | None:
        """Ask the node to stop (SIGTERM); its pid, or None when it does not run."""
        pid = self.live_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        return pid

    def reap(self, pid: int, deadline: float) -> str:
        """Wait until `deadline` for the node to exit, then SIGKILL it."""
        stopped = _wait_gone(pid, max(0.0, deadline - time.monotonic()))
        if not stopped:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        return "stopped" if stopped else "killed"

    def _jvm_flags(self) -> list[str]:
        return ["-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}"]


class LocalBroker:
    """The local cluster of `nodes` nodes (one by default), as one thing to start,
    stop and ask about."""

    def __init__(self, *, cache_dir: Path, port: int, nodes: int = 1, secure: bool = False,
                 home: Path | None = None) -> None:
        self.layout = Layout(port, nodes)
        self.cache_dir = cache_dir
        self.port = port
        self.secure = secure
        suffix = ("" if nodes == 1 else f"-{nodes}nodes") + ("-secure" if secure else "")
        self.home = home or cache_dir / "broker" / f"{port}{suffix}"
        self.nodes = [LocalNode(self.home if nodes == 1 else self.home / f"node-{n}", n,
                                self.layout) for n in self.layout.ids]

    @property
    def address(self) -> str:
        return self.layout.bootstrap

    @property
    def log_file(self) -> Path:
        return self.nodes[0].log_file

    @property
    def credentials(self) -> Path:
        """principal → password (JSON, 0600) of a secure cluster, generated on first start."""
        return self.home / "credentials.json"

    @cached_property
    def tls(self) -> tls.TlsFiles:
        """The CA and certificates, generated on first use and then kept (one look)."""
        return tls.ensure(self.home / "tls")

    def security(self) -> KafkaSecurity:
        """How clients reach this cluster (nothing to say for a plaintext one)."""
        return self._security(self._passwords if self.secure else {})

    def environment(self) -> dict[str, str]:
        """The environment that points orderflow at this cluster (no password in it:
        children read the credentials file)."""
        found = {"KAFKA_BOOTSTRAP_SERVERS": self.address}
        return found | self._security({}).environment() if self.secure else found

    def _security(self, passwords: Mapping[str, str]) -> KafkaSecurity:
        if not self.secure:
            return KafkaSecurity()
        return KafkaSecurity(protocol="SASL_SSL", mechanism=MECHANISM, ca_location=self.tls.ca,
                             credentials=self.credentials, passwords=passwords)

    def admin(self, address: str | None = None) -> Kafka:
        """The admin's connection, to the cluster or to one node."""
        if not self.secure:
            return address or self.address
        return self.security().connect(address or self.address, ADMIN)

    def node(self, node_id: int) -> LocalNode:
        return self.nodes[node_id - 1]

    def status(self) -> BrokerStatus:
        nodes = tuple(n.status() for n in self.nodes)
        running = [n for n in nodes if n.pid is not None]
        if running:
            state = "running" if len(running) == len(nodes) else "degraded"
            return BrokerStatus(state, self.address, KAFKA_VERSION, running[0].pid,
                                self.log_file, nodes)
        answer = probe(self.admin(self.nodes[0].address), timeout=3.0) \
            if not self.secure or self.credentials.exists() else probe(self.nodes[0].address)
        state = "foreign" if answer is PortState.KAFKA else "stopped"
        return BrokerStatus(state, self.address, None, None, self.log_file, nodes)

    def active_controller(self) -> int | None:
        """The node id of the quorum's leader, as the nodes last recorded it."""
        seen = [leader for n in self.nodes if (leader := n.quorum_leader()) is not None]
        return max(seen)[1] if seen else None

    def start(self, timeout: float = 120.0) -> tuple[BrokerStatus, bool]:
        """Start every node that is not running, or report the cluster already answering.
        Returns (status, started)."""
        current = self.status()
        if current.state in ("running", "foreign"):
            return current, False
        missing = [n for n in self.nodes if n.live_pid() is None]
        for node in missing:
            node.check_ports_free()
        java = _find_java()
        libs = resolve_jars(self.cache_dir)
        cluster_id = self._cluster_id()
        configs = [node.write_config(self._extra(node.node_id)) for node in missing]
        for node, config in zip(missing, configs, strict=True):
            node.format_storage(java, libs, config, cluster_id, self._scram())
        spawned = [(n, n.spawn(java, libs, c)) for n, c in zip(missing, configs, strict=True)]
        try:
            self._wait_ready(spawned, timeout)
            if self.secure:  # idempotent: every principal's password as the file says
                upsert_scram_users(self.admin(), MECHANISM,
                                   {p: self._passwords[p] for p in PRINCIPALS})
        except BaseException:
            self._abandon(spawned)  # never leave a half-started cluster behind
            raise
        return self.status(), True

    def _extra(self, node: int) -> dict[str, str]:
        if not self.secure:
            return {}
        return secure_properties(self.layout, node, self.tls, self._passwords[ADMIN])

    def _scram(self) -> list[str]:
        if not self.secure:
            return []
        return ["--add-scram", f"{MECHANISM}=[name={ADMIN},password={self._passwords[ADMIN]}]"]

    @cached_property
    def _passwords(self) -> dict[str, str]:
        """Every principal's password, generated into the 0600 file on first use, read
        once (the readiness loop asks for the admin's many times)."""
        if not self.credentials.exists():
            generated = {p: secrets.token_urlsafe(24) for p in (ADMIN, *PRINCIPALS)}
            write_private(self.credentials, json.dumps(generated, indent=2) + "\n")
        return read_passwords(self.credentials)

    def stop(self, timeout: float = 30.0) -> str:
        """SIGTERM every node at once, wait, SIGKILL what is left; data is kept."""
        live = [(n, pid) for n in self.nodes if (pid := n.terminate()) is not None]
        if not live:
            return "not running"
        deadline = time.monotonic() + timeout
        ends = [node.reap(pid, deadline) for node, pid in live]
        pids = ", ".join(str(pid) for _n, pid in live)
        label = "pid" if len(live) == 1 else "pids"
        if "killed" in ends:
            return f"did not stop within {timeout:.0f}s; killed ({label} {pids})"
        return f"stopped ({label} {pids})"

    def _cluster_id(self) -> str:
        """Every node of a cluster is formatted with the same id."""
        kept = self.home / "cluster.id"
        if kept.exists():
            return kept.read_text().strip()
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.home.mkdir(parents=True, exist_ok=True)
        kept.write_text(cluster_id)
        return cluster_id

    def _wait_ready(self, spawned: list[tuple[LocalNode, subprocess.Popen[bytes]]],
                    timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node, process in spawned:
                if process.poll() is not None:
                    raise BrokerError(f"node {node.node_id} exited during start (code"
                                      f" {process.returncode}); see {node.home / 'logs'}")
            if self._ready():
                return
            time.sleep(0.2)
        raise BrokerError(f"the broker did not become ready within {timeout:.0f}s;"
                          f" see {self.log_file}")

    def _ready(self) -> bool:
        if not all(probe(self.admin(n.address), timeout=2.0) is PortState.KAFKA
                   for n in self.nodes):
            return False
        return self.layout.nodes == 1 or broker_count(self.admin()) == self.layout.nodes

    @staticmethod
    def _abandon(spawned: list[tuple[LocalNode, subprocess.Popen[bytes]]]) -> None:
        for node, process in spawned:
            if process.poll() is None:
                process.kill()
                process.wait()
            node.pid_file.unlink(missing_ok=True)


def _find_java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise BrokerError("Java is not installed (no `java` on PATH or in JAVA_HOME);"
                          " install a JDK 17 or newer")
    major = java_major_version(java)
    if major < 17:
        raise BrokerError(f"Java {major} found at {java}; Kafka {KAFKA_VERSION} needs Java 17+")
    return java


def _is_our_broker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return not _ended(pid) and b"kafka.Kafka" in cmdline


def _ended(pid: int) -> bool:
    """Gone, or a zombie with no thread left: only then are its sockets closed. (Not "its
    cmdline is empty": an exiting process loses its memory, and its cmdline, before it
    closes its files; and a JVM's main thread turns zombie while its other threads,
    which share its files, are still exiting.)"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X") and threads <= 1


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _ended(pid):
            return True
        time.sleep(0.1)
    return False
