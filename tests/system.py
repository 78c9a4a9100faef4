"""The real system for integration tests: every service as its own OS process."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tests.support import CLI


class RunningSystem:
    """Named instances of the services: `payment`, or `payment#2` for a second one."""

    def __init__(self, environ: dict[str, str], log_dir: Path) -> None:
        self.env = {**{k: v for k, v in os.environ.items()
                       if not k.startswith(("ORDERFLOW_", "KAFKA_BOOTSTRAP"))}, **environ}
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def service_of(instance: str) -> str:
        return instance.split("#")[0]

    def start(self, instances: Iterable[str], extra_env: dict[str, str] | None = None) -> None:
        for name in instances:
            with (self.log_dir / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [CLI, "-v", "run", self.service_of(name)],
                    env={**self.env, **(extra_env or {})},
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill(self, service: str) -> None:
        """SIGKILL: no batch finishes, nothing is flushed."""
        process = self.processes.pop(service)
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def stop(self, services: Iterable[str] | None = None) -> dict[str, int]:
        names = list(self.processes) if services is None else list(services)
        for name in names:
            self.processes[name].send_signal(signal.SIGTERM)
        return {name: self.processes.pop(name).wait(60) for name in names}

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
