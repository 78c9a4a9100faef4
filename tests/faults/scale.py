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
    store_orders: int  # scenario 9
    pg_restarts: int  # scenario 9 on PostgreSQL: `pg_ctl restart -m fast`
    pg_terminations: int  # scenario 9 on PostgreSQL: every service connection terminated
    commit_chance: float  # scenario 9 on SQLite: a COMMIT fails with this probability,
    commit_most: int  # at most this often in each of the six processes,
    commit_failures: int  # and at least this often across the fleet
    away_orders: int  # scenario 10: placed while the broker is away
    away_backlog: int  # scenario 10: outbox rows (at least) waiting for the broker
    away_seconds: float  # scenario 10: how long the broker stays away (at least)
    away_poison: int  # scenario 10: copies of each poison kind per topic
    compensation_orders: int  # scenario 11: orders per failing compensation and flow
    retention_orders: int  # scenario 12
    retention_hours: float  # scenario 12: ORDERFLOW_RETENTION_HOURS of every process
    retention_window: float  # scenario 12: seconds over which the orders are placed
    node_orders: int  # scenario 13: orders placed while broker nodes fail
    node_kills: int  # scenario 13: one node SIGKILLed and restarted, this often
    settle_timeout: float  # longest wait for every order to end and the system to idle
    test_timeout: float  # pytest-timeout of one scenario


SMALL = Scale("small", crash_orders=60, crash_kills=3, kill_interval=(1.0, 2.5),
              point_orders=12, point_rearms=1, broker_orders=36, replay_orders=12, broker_kills=1,
              broker_pauses=1, pause_seconds=3.0, scale_orders=60, scale_moves=3,
              scale_interval=(1.5, 3.0), store_orders=40, pg_restarts=1, pg_terminations=3,
              commit_chance=0.1, commit_most=1, commit_failures=4, away_orders=40,
              away_backlog=40, away_seconds=5.0, away_poison=1, compensation_orders=2,
              retention_orders=150,
              retention_hours=0.002, retention_window=20.0, node_orders=30, node_kills=1,
              settle_timeout=120.0,
              test_timeout=240.0)
FULL = Scale("full", crash_orders=1000, crash_kills=20, kill_interval=(1.0, 5.0),
             point_orders=50, point_rearms=3, broker_orders=1000, replay_orders=1000,
             broker_kills=3,
             broker_pauses=3, pause_seconds=10.0, scale_orders=1000, scale_moves=12,
             scale_interval=(2.0, 5.0), store_orders=1000, pg_restarts=3, pg_terminations=10,
             commit_chance=0.02, commit_most=4, commit_failures=20, away_orders=1000,
             away_backlog=500, away_seconds=20.0, away_poison=5, compensation_orders=50,
             retention_orders=3000,
             retention_hours=0.002, retention_window=200.0, node_orders=1000, node_kills=5,
             settle_timeout=600.0,
             test_timeout=1500.0)


def scale() -> Scale:
    return FULL if os.environ.get("ORDERFLOW_FAULT_SCALE") == "full" else SMALL
