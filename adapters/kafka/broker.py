"""The local Apache Kafka broker: official jars on the local JDK, KRaft combined mode.

Everything lives under `<cache>/broker/<port>/`: config, data (kept across
stop/start), logs and the pid file.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from adapters.kafka.admin import PortState, probe
from adapters.kafka.errors import BrokerError
from adapters.kafka.jars import KAFKA_VERSION, java_major_version, resolve_jars

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
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


@dataclass(frozen=True)
class BrokerStatus:
    state: str  # "running" | "stopped" | "foreign" (a broker orderflow did not start)
    address: str
    version: str | None
    pid: int | None
    log_file: Path


class LocalBroker:
    def __init__(self, *, cache_dir: Path, port: int, home: Path | None = None) -> None:
        if not 0 < port < 65535:
            raise BrokerError(f"port must be between 1 and 65534, got {port}")
        self.cache_dir = cache_dir
        self.port = port
        self.home = home or cache_dir / "broker" / str(port)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def _pid_file(self) -> Path:
        return self.home / "broker.pid"

    def status(self) -> BrokerStatus:
        pid = self._live_pid()
        if pid is not None:
            return BrokerStatus("running", self.address, KAFKA_VERSION, pid, self.log_file)
        if probe(self.address, timeout=3.0) is PortState.KAFKA:
            return BrokerStatus("foreign", self.address, None, None, self.log_file)
        return BrokerStatus("stopped", self.address, None, None, self.log_file)

    def start(self, timeout: float = 90.0) -> tuple[BrokerStatus, bool]:
        """Start the broker, or report the one already answering. Returns (status, started)."""
        current = self.status()
        if current.state != "stopped":
            return current, False
        self._check_ports_free()
        java = _find_java()
        libs = resolve_jars(self.cache_dir)
        config = self._write_config()
        self._format_storage(java, libs, config)
        process = self._spawn(java, libs, config)
        self._wait_ready(process, timeout)
        return self.status(), True

    def stop(self, timeout: float = 30.0) -> str:
        pid = self._live_pid()
        if pid is None:
            return "not running"
        os.kill(pid, signal.SIGTERM)
        if _wait_gone(pid, timeout):
            self._pid_file.unlink(missing_ok=True)
            return f"stopped (pid {pid})"
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 10.0)
        self._pid_file.unlink(missing_ok=True)
        return f"did not stop within {timeout:.0f}s; killed (pid {pid})"

    def _check_ports_free(self) -> None:
        for port in (self.port, self.port + 1):
            if probe(f"{HOST}:{port}", timeout=2.0) is not PortState.FREE:
                raise BrokerError(
                    f"port {port} on {HOST} is already in use by another program;"
                    " choose another with --port (the controller uses port+1)"
                )

    def _write_config(self) -> Path:
        for sub in ("data", "logs"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(_server_properties(self.port, self.home / "data"))
        (self.home / "log4j2.properties").write_text(_LOG4J.format(log=self.log_file))
        return config

    def _format_storage(self, java: str, libs: Path, config: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return  # formatted on first start; data survives stop/start
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `--cluster-id=ID`: an id may start with '-', which as its own argument is a flag
        command = [java, *self._jvm_flags(), "-cp", f"{libs}/*", "kafka.tools.StorageTool",
                   "format", f"--cluster-id={cluster_id}", "--config", str(config)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting broker storage failed: {done.stdout}{done.stderr}"[:300])

    def _spawn(self, java: str, libs: Path, config: Path) -> subprocess.Popen[bytes]:
        command = [java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", *self._jvm_flags(),
                   "-cp", f"{libs}/*", "kafka.Kafka", str(config)]
        with (self.home / "logs" / "stdout.log").open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=self.home,
                                       start_new_session=True)
        self._pid_file.write_text(str(process.pid))
        logger.info("started Kafka %s on %s (pid %s)", KAFKA_VERSION, self.address, process.pid)
        return process

    def _jvm_flags(self) -> list[str]:
        return ["-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}"]

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._pid_file.unlink(missing_ok=True)
                raise BrokerError(f"the broker exited during start (code {process.returncode});"
                                  f" see {self.home / 'logs'}")
            if probe(self.address, timeout=2.0) is PortState.KAFKA:
                return
            time.sleep(0.2)
        process.kill()  # never leave a half-started broker behind
        process.wait()
        self._pid_file.unlink(missing_ok=True)
        raise BrokerError(f"the broker did not become ready within {timeout:.0f}s;"
                          f" see {self.log_file}")

    def _live_pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_broker(pid) else None


def _server_properties(port: int, data: Path) -> str:
    controller = port + 1
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{HOST}:{controller}",
        f"listeners=PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller}",
        f"advertised.listeners=PLAINTEXT://{HOST}:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=3",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=6",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "",
    ])


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
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return not zombie and b"kafka.Kafka" in cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_our_broker(pid):
            return True
        time.sleep(0.1)
    return False
