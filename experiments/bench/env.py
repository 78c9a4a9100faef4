"""A run's own settings and environment, and a description of the machine."""

from __future__ import annotations

import os
import platform
from dataclasses import replace
from typing import Any

from adapters.settings import Settings
from experiments.bench.config import ORDER_TIMEOUT, STEP_TIMEOUT


def run_settings(base: Settings, tag: str, address: str) -> Settings:
    """A fresh topic prefix (hence groups and schemas) and a fresh data dir."""
    return replace(base, bootstrap_servers=address, topic_prefix=f"bench-{tag}.",
                   data_dir=(base.data_dir / "bench" / tag).resolve(),
                   database_url=base.database_url if base.is_postgres else None,
                   order_timeout=ORDER_TIMEOUT, step_timeout=STEP_TIMEOUT)


def child_environ(settings: Settings) -> dict[str, str]:
    """The run's settings as the environment of `orderflow run SERVICE`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ORDERFLOW_", "KAFKA_BOOTSTRAP"))}
    env |= {"KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "ORDERFLOW_DATA_DIR": str(settings.data_dir),
            "ORDERFLOW_TOPIC_PREFIX": settings.topic_prefix,
            "ORDERFLOW_CACHE_DIR": str(settings.cache_dir),
            "ORDERFLOW_ORDER_TIMEOUT": str(settings.order_timeout.total_seconds()),
            "ORDERFLOW_STEP_TIMEOUT": str(settings.step_timeout.total_seconds())}
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
