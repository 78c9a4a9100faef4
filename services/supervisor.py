"""`orderflow up` / `orderflow run A B` / `orderflow demo`: each service as its own child.

A child that exits on its own — a crash, an injected fault, a SIGKILL from outside, any
exit code — is restarted: a service that dies is never left dead. `start()` starts a
watcher thread that does this, so a caller that never calls `wait()` (`demo`) gets it
too. The restart waits a backoff that doubles from 0.5 s up to 30 s, so a service that
cannot start (a store gone, a bad config) does not spin; it resets once a child has run
for 60 s, so one crash after a long run comes back at once. Each restart is one line
through `on_restart` (stderr by default) and in the service's own log, with its count.

Ctrl-C or SIGTERM ends `wait()` and halts the watcher at once, so children stopping on
the same Ctrl-C are not restarted. `stop()` halts and joins the watcher first (nothing is
restarted during or after it), then SIGTERMs every child (and SIGCONTs it, so one paused
by `pause()` or a stage drill can act on it) and waits, killing one that does not stop in
time. A paused child has not exited, so it is never restarted: the watcher only restarts
the dead.

With `state_file`, the supervisor keeps a small JSON file of its own pid and each
child's pid, restarts and log, rewritten atomically at start and after every restart and
removed on stop: the stage drills (`orderflow drill`) and `orderflow watch` find the
services of a running `up` through it (`read_state`). Safety never rests on a restart:
every effect commits with its position, so a child restarted mid-batch redoes nothing
twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from adapters import logs

logger = logging.getLogger(__name__)
TICK = 0.2  # seconds between the watcher's looks at the children
UP_STATE = "up.json"  # the state file's name in the data dir, for `up` and the drills


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before a restart: `first` doubling per quick exit, up to `cap`;
    a child that ran `stable` seconds or more starts the doubling over."""

    first: float = 0.5
    cap: float = 30.0
    stable: float = 60.0

    def delay(self, streak: int) -> float:
        """The wait before a restart after `streak` quick exits in a row before this one."""
        return min(self.cap, self.first * 2.0 ** min(streak, 32))

    def streak_after(self, streak: int, ran_for: float) -> int:
        return 0 if ran_for >= self.stable else streak


BACKOFF = Backoff()


@dataclass
class Child:
    service: str
    process: subprocess.Popen[bytes]
    log: Path
    restarts: int = 0
    started_at: float = 0.0  # time.monotonic() of the current process's start
    streak: int = 0  # quick exits in a row, for the backoff
    due: float | None = None  # when a restart is scheduled: its time.monotonic()


def exit_text(returncode: int) -> str:
    """`exited with code 3`, or for a signal `exited with code 137 (SIGKILL)` as a shell says."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"exited with code {128 - returncode} ({name})"


def to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Supervisor:
    def __init__(self, services: Sequence[str], log_dir: Path, verbose: bool = True, *,
                 environ: Mapping[str, str] | None = None,
                 on_restart: Callable[[str], None] = to_stderr,
                 backoff: Backoff = BACKOFF, state_file: Path | None = None) -> None:
        """`environ` is the children's environment (None: this process's own)."""
        self.services, self.log_dir, self.verbose = list(services), log_dir, verbose
        self.environ = None if environ is None else dict(environ)
        self.on_restart, self.backoff, self.state_file = on_restart, backoff, state_file
        self.children: list[Child] = []
        self._halt = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> list[Child]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            log = self.log_dir / f"{service}.log"
            self.children.append(Child(service, self._spawn(service, log), log,
                                       started_at=time.monotonic()))
        self._write_state()
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._watcher.start()
        return self.children

    def pause(self, service: str) -> None:
        """SIGSTOP the service's process: it holds its partitions and answers nothing, as
        a process stuck in a long GC pause or a frozen VM does."""
        self._child(service).process.send_signal(signal.SIGSTOP)

    def resume(self, service: str) -> None:
        self._child(service).process.send_signal(signal.SIGCONT)

    def _child(self, service: str) -> Child:
        for child in self.children:
            if child.service == service:
                return child
        raise KeyError(service)

    def wait(self) -> None:
        """Block until SIGINT or SIGTERM (or `stop()`); the watcher restarts meanwhile."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        while not self._halt.wait(TICK):
            pass

    def stop(self, timeout: float = 30.0) -> None:
        self._halt.set()
        if self._watcher is not None:
            self._watcher.join()
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
                child.process.send_signal(signal.SIGCONT)  # a paused child must see it
        deadline = time.monotonic() + timeout
        for child in self.children:
            self._reap(child, max(0.1, deadline - time.monotonic()))
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    def _reap(self, child: Child, timeout: float) -> None:
        try:
            child.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in time; killing pid %d", child.service,
                           child.process.pid)
            child.process.kill()
            child.process.wait()

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._halt.set()

    def _spawn(self, service: str, log: Path) -> subprocess.Popen[bytes]:
        executable = str(Path(sys.executable).with_name("orderflow"))
        flags = ["-v"] if self.verbose else []
        with log.open("ab") as out:
            return subprocess.Popen([executable, *flags, "run", service], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=self.environ)

    def _watch(self) -> None:
        while not self._halt.wait(TICK):
            for child in self.children:
                if not self._halt.is_set():
                    self._tend_safely(child)

    def _tend_safely(self, child: Child) -> None:
        """The watcher outlives any one failure (a reporter that raises, a full disk)."""
        try:
            self._tend(child, time.monotonic())
        except Exception:
            logger.exception("supervising %s failed; trying again", child.service)

    def _tend(self, child: Child, now: float) -> None:
        if child.due is None:
            returncode = child.process.poll()
            if returncode is not None:
                self._schedule(child, returncode, now)
        elif now >= child.due:
            self._restart(child, now)

    def _schedule(self, child: Child, returncode: int, now: float) -> None:
        streak = self.backoff.streak_after(child.streak, now - child.started_at)
        delay = self.backoff.delay(streak)
        child.streak, child.due = streak + 1, now + delay
        self._say(child, f"{child.service} {exit_text(returncode)}; restarting in"
                         f" {delay:.1f} s (restart {child.restarts + 1})")

    def _restart(self, child: Child, now: float) -> None:
        child.due, child.started_at = None, now
        try:
            child.process = self._spawn(child.service, child.log)
        except OSError as error:  # the old, dead process stays: the next tick reschedules
            self._say(child, f"{child.service} could not be started: {error}")
            return
        child.restarts += 1
        self._write_state()

    def _write_state(self) -> None:
        """The drills' view of this supervisor; written whole to a temporary file and
        renamed, so a reader never sees half of it."""
        if self.state_file is None:
            return
        state = {"pid": os.getpid(),
                 "services": {c.service: {"pid": c.process.pid, "restarts": c.restarts,
                                          "log": str(c.log)} for c in self.children}}
        partial = self.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps(state, indent=2))
        partial.replace(self.state_file)

    def _say(self, child: Child, line: str) -> None:
        """One line for the operator, and the same line in the service's own log."""
        self.on_restart(line)
        with contextlib.suppress(OSError), child.log.open("a") as log:  # in the log's format
            log.write(logs.line(logging.WARNING, __name__, line, child.service) + "\n")


def is_alive(pid: int) -> bool:
    """The process runs (or is paused). One that exited but was not reaped yet (its
    supervisor is frozen) is a zombie: dead, though signal 0 still reaches it."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """State Z in /proc/PID/stat (Linux); where there is no /proc, never."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def read_state(path: Path) -> dict[str, Any] | None:
    """The state file's document as `_write_state` wrote it; None when there is none or
    it cannot be read. It outlives an `up` that was killed: check the pids it names."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None
