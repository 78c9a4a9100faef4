"""`orderflow up` / `orderflow run A B`: each service as its own child process.

Ctrl-C (or SIGTERM) stops every child with SIGTERM and waits for it; a child that
dies on its own is reported and the others keep running.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

logger = logging.getLogger(__name__)


@dataclass
class Child:
    service: str
    process: subprocess.Popen[bytes]
    log: Path


class Supervisor:
    def __init__(self, services: Sequence[str], log_dir: Path, verbose: bool = True) -> None:
        self.services, self.log_dir, self.verbose = list(services), log_dir, verbose
        self.children: list[Child] = []
        self._stopping = False

    def start(self) -> list[Child]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        executable = str(Path(sys.executable).with_name("orderflow"))
        flags = ["-v"] if self.verbose else []
        for service in self.services:
            log = self.log_dir / f"{service}.log"
            with log.open("ab") as out:
                process = subprocess.Popen([executable, *flags, "run", service], stdout=out,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.children.append(Child(service, process, log))
        return self.children

    def wait(self, on_exit: Callable[[Child], None]) -> None:
        """Block until stopped by a signal; report children that exit by themselves."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        reported: set[int] = set()
        while not self._stopping:
            for child in self.children:
                if child.process.poll() is not None and child.process.pid not in reported:
                    reported.add(child.process.pid)
                    on_exit(child)
            if len(reported) == len(self.children):
                return
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> None:
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in time; killing pid %d", child.service,
                               child.process.pid)
                child.process.kill()
                child.process.wait()

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
