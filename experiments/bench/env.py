"""A run's own settings and environment, and a description of the machine."""

from __future__ import annotations

import os
import platform
import random
import socket
from dataclasses import replace
from typing import Any

from adapters.metrics import HOST, SERVICE_PORT_OFFSETS
from adapters.settings import Settings
from experiments.bench.config import ORDER_TIMEOUT, STEP_TIMEOUT, BenchError

# Metrics base ports are drawn below Linux's ephemeral range (32768-60999), so the
# clients' own outgoing connections cannot take one between the check and the bind.
METRICS_PORTS = range(20000, 32000)


def run_settings(base: Settings, tag: str, address: str) -> Settings:
    """A fresh topic prefix (hence groups and schemas), a fresh data dir, and free ports
    for the services' /metrics."""
    return replace(base, bootstrap_servers=address, topic_prefix=f"bench-{tag}.",
                   data_dir=(base.data_dir / "bench" / tag).resolve(),
                   database_url=base.database_url if base.is_postgres else None,
                   order_timeout=ORDER_TIMEOUT, step_timeout=STEP_TIMEOUT,
                   metrics_port=free_metrics_base())


def free_metrics_base(tries: int = 100) -> int:
    """A base port whose every service port is free now (should another process take
    one before its service listens, that service fails with one line and the bench stops)."""
    span = max(SERVICE_PORT_OFFSETS.values()) + 1
    for _ in range(tries):
        base = random.randrange(METRICS_PORTS.start, METRICS_PORTS.stop - span)
        if all(_free(port) for port in range(base, base + span)):
            return base
    raise BenchError(f"no {span} free ports in a row for the services' /metrics")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def child_environ(settings: Settings) -> dict[str, str]:
    """The run's settings as the environment of `orderflow run SERVICE`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ORDERFLOW_", "KAFKA_BOOTSTRAP"))}
    env |= {**settings.kafka_environment(),
            "ORDERFLOW_DATA_DIR": str(settings.data_dir),
            "ORDERFLOW_TOPIC_PREFIX": settings.topic_prefix,
            "ORDERFLOW_CACHE_DIR": str(settings.cache_dir),
            "ORDERFLOW_ORDER_TIMEOUT": str(settings.order_timeout.total_seconds()),
            "ORDERFLOW_STEP_TIMEOUT": str(settings.step_timeout.total_seconds()),
            "ORDERFLOW_METRICS_PORT": str(settings.metrics_port)}
    if settings.database_url is not None:
        env["ORDERFLOW_DATABASE_URL"] = settings.database_url
    return env


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in _cpuinfo()
                  if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu": model, "platform": platform.platform(),
            "python": platform.python_version()}


def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo") as info:
            return info.read().splitlines()
    except OSError:
        return []
