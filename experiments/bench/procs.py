"""The service processes of a bench run, and what /proc says about them.

Like `services.supervisor.Supervisor`, but with the run's own environment (its
fresh topic prefix and data dir), and failing loudly when a child dies mid-run.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from experiments.bench.config import BenchError

logger = logging.getLogger(__name__)
TICKS = os.sysconf("SC_CLK_TCK")


class Fleet:
    def __init__(self, services: Sequence[str], environ: Mapping[str, str],
                 log_dir: Path) -> None:
        self.services, self.environ, self.log_dir = list(services), dict(environ), log_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        executable = str(Path(sys.executable).with_name("orderflow"))
        for service in self.services:
            with (self.log_dir / f"{service}.log").open("ab") as out:
                self.children[service] = subprocess.Popen(
                    [executable, "-v", "run", service], env=self.environ, stdout=out,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def pids(self) -> dict[str, int]:
        return {service: child.pid for service, child in self.children.items()}

    def check(self) -> None:
        """Raise if any service has exited: the figures would be meaningless."""
        for service, child in self.children.items():
            if child.poll() is not None:
                raise BenchError(f"service {service} exited with code {child.returncode};"
                                 f" see {self.log_dir / (service + '.log')}")

    def stop(self, timeout: float = 30.0) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for service, child in self.children.items():
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in time; killing pid %d", service, child.pid)
                child.kill()
                child.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, with that of its children it has
    waited for (the bench's placer processes); 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime


def peak_rss_mib(pid: int) -> float:
    """The process's high-water resident set size (VmHWM)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: max(0.0, after[name] - before.get(name, 0.0)) for name in after}
