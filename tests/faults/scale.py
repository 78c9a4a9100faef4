"""Every size of the fault suite, in one place.

Default (`make test`, CI): small runs, each scenario well under a minute on a busy
2-core machine. `ORDERFLOW_FAULT_SCALE=full` (`make faults`): the sizes of issue #6.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    crash_orders: int  # scenario 1: orders placed while services are SIGKILLed
    crash_kills: int  # scenario 1: SIGKILLs
    kill_interval: tuple[float, float]  # seconds between two injected faults (random)
    point_orders: int  # scenario 2: orders per crash point
    point_rearms: int  # scenario 2: how often a crashed process restarts with the fault armed
    broker_orders: int  # scenario 3
    replay_orders: int  # scenario 4: orders run before every group replays from the start
    broker_kills: int  # scenario 3: broker SIGKILL + restart
    broker_pauses: int  # scenario 3: broker SIGSTOP ... SIGCONT
    pause_seconds: float  # scenario 3
    scale_orders: int  # scenario 5
    scale_moves: int  # scenario 5: instances joining or leaving
    scale_interval: tuple[float, float]  # scenario 5
    settle_timeout: float  # longest wait for every order to end and the system to idle
    test_timeout: float  # pytest-timeout of one scenario


SMALL = Scale("small", crash_orders=60, crash_kills=3, kill_interval=(1.0, 2.5),
              point_orders=12, point_rearms=1, broker_orders=36, replay_orders=12, broker_kills=1,
              broker_pauses=1, pause_seconds=3.0, scale_orders=60, scale_moves=3,
              scale_interval=(1.5, 3.0), settle_timeout=120.0, test_timeout=240.0)
FULL = Scale("full", crash_orders=1000, crash_kills=20, kill_interval=(1.0, 5.0),
             point_orders=50, point_rearms=3, broker_orders=1000, replay_orders=1000,
             broker_kills=3,
             broker_pauses=3, pause_seconds=10.0, scale_orders=1000, scale_moves=12,
             scale_interval=(2.0, 5.0), settle_timeout=600.0, test_timeout=1500.0)


def scale() -> Scale:
    return FULL if os.environ.get("ORDERFLOW_FAULT_SCALE") == "full" else SMALL
