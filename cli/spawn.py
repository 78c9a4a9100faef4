"""Every service started by the CLI for one job (`demo`, `compare --spawn`), then stopped.

`spawned` migrates the stores, creates the topics, starts each service as its own child
under a supervisor (one that exits is restarted, and said on stderr), and waits for their
consumer groups before it yields the supervisor; a `compare` holding it can pause a
service for the timeout path. Leaving the block stops every child, whatever happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from cli.run import say_restart

if TYPE_CHECKING:
    from services.bootstrap import Orderflow
    from services.supervisor import Supervisor

T = TypeVar("T")
Say = Callable[[str], None]


@contextmanager
def spawned(orderflow: Orderflow, say: Say) -> Iterator[Supervisor]:
    from cli.steps import step_environ
    from services.supervisor import Supervisor

    step("migrations", orderflow.upgrade, say)
    step("topics", orderflow.create_topics, say)
    services = orderflow.deployed()
    supervisor = Supervisor(services, orderflow.settings.data_dir / "logs",
                            on_restart=say_restart, environ=step_environ(orderflow.settings))
    try:
        children = supervisor.start()
        say(f"started {len(children)} services: {', '.join(c.service for c in children)}")
        step("consumer groups", lambda: orderflow.wait_for_groups(services), say)
        yield supervisor
    finally:
        supervisor.stop()
        say("services stopped")


def step(name: str, action: Callable[[], T], say: Say) -> T:
    """Run one preparation step and say how long it took."""
    began = time.monotonic()
    result = action()
    say(f"[green]✓[/green] {name} ({time.monotonic() - began:.1f}s)")
    return result
