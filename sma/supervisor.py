"""`sma up`'s supervisor: restarts dead children with backoff, gives up in one clear line, one per data dir.

The restart decision is a pure policy over exit times (testable without processes); the loop applies it to
the stack's children; the lock keeps a second `sma up` from fighting the first one for its ports and files.
Orphans are prevented where the children are started (`runtime.die_with_parent`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol

from sma.runtime import BOT, DASHBOARD, TEMPORAL
from sma.settings import ConfigError

LOCK_NAME = "sma-up.pid"


@dataclass(frozen=True)
class RestartPolicy:
    """Exponential backoff between restarts, and a limit on restarts inside a sliding window."""

    base_delay_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 60.0
    max_restarts: int = 5
    window_s: float = 300.0


@dataclass(frozen=True)
class Decision:
    restart: bool
    delay_s: float  # wait this long before the restart
    restarts: int  # restarts inside the window, this one included (or the ones already made on a give-up)


@dataclass
class RestartTracker:
    """One child's recent exits: when to restart it, or that it keeps dying and it is time to give up."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    exits: deque[float] = field(default_factory=deque)

    def on_exit(self, now: float) -> Decision:
        self.exits.append(now)
        while self.exits and self.exits[0] <= now - self.policy.window_s:
            self.exits.popleft()
        count = len(self.exits)
        if count > self.policy.max_restarts:
            return Decision(False, 0.0, count - 1)
        delay = min(self.policy.max_delay_s, self.policy.base_delay_s * self.policy.factor ** (count - 1))
        return Decision(True, delay, count)


class Children(Protocol):
    """What the supervisor needs from the stack (runtime.Stack); tests pass fakes."""

    def check(self) -> list[str]: ...
    def exit_code(self, name: str) -> int | None: ...
    def log_path(self, name: str) -> Path: ...
    def restart(self, name: str) -> None: ...
    def forget(self, name: str) -> None: ...


def label(name: str) -> str:
    """How messages name a child."""
    if name == TEMPORAL:
        return "the Temporal dev server"
    return name if name in (BOT, DASHBOARD) else f"worker {name}"


def essential(name: str) -> bool:
    """Without the dev server or a worker pool no run can finish; the bot and the dashboard are extras."""
    return name not in (BOT, DASHBOARD)


class GaveUp(Exception):
    """An essential child kept dying: the message is the one line `sma up` prints before it exits."""


@dataclass
class Supervisor:
    """Watches the children, restarts the dead ones after their backoff, reports and gives up per policy."""

    children: Children
    warn: Callable[[str], None]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    clock: Callable[[], float] = time.monotonic
    trackers: dict[str, RestartTracker] = field(default_factory=dict)
    pending: dict[str, float] = field(default_factory=dict)  # child -> when to restart it

    def step(self) -> None:
        """One look at the children; raises GaveUp when an essential child is beyond its restart limit."""
        now = self.clock()
        for name in self.children.check():
            if name not in self.pending:
                self._exited(name, self.children.exit_code(name), now)
        for name, due in list(self.pending.items()):
            if now < due:
                continue
            del self.pending[name]
            try:
                self.children.restart(name)
            except (RuntimeError, ConfigError) as exc:  # the dev server could not come back
                self.warn(f"{label(name)} did not start again: {exc}")
                self._exited(name, None, self.clock())

    def _exited(self, name: str, code: int | None, now: float) -> None:
        decision = self.trackers.setdefault(name, RestartTracker(self.policy)).on_exit(now)
        log = self.children.log_path(name)
        how = f"exit code {code}" if code is not None else "failed start"
        if not decision.restart:
            line = (f"{label(name)} gave up after {decision.restarts} restarts in {self.policy.window_s:.0f} s "
                    f"(last {how}); see {log}")
            if essential(name):
                raise GaveUp(line)
            self.warn(line + "; the rest keeps running")
            self.children.forget(name)
            return
        self.warn(f"{label(name)} exited ({how}); restart {decision.restarts} of {self.policy.max_restarts} "
                  f"in {decision.delay_s:.0f} s; see {log}")
        self.pending[name] = now + decision.delay_s

    def run(self, stopping: Callable[[], bool], tick_s: float = 0.5) -> None:
        """Supervise until asked to stop; GaveUp propagates."""
        while not stopping():
            self.step()
            time.sleep(tick_s)


class AlreadyRunning(Exception):
    """Another `sma up` holds the data dir's lock."""


class UpLock:
    """`<data_dir>/sma-up.pid` under an exclusive flock for as long as `sma up` lives.

    The kernel drops the lock when the holder dies, however it dies, so a crash never leaves a stale lock;
    the file is never removed (removing it would let two processes lock two different files).
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> UpLock:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = (data_dir / LOCK_NAME).resolve()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f"pid {pid}" if pid else "pid unknown"
            stop = f"stop it first (kill {pid})" if pid else f"stop it first (see {path})"
            raise AlreadyRunning(f"sma up is already running ({who}) with data dir {data_dir.resolve()}; "
                                 f"{stop} or use another data dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    """The holder writes its pid right after locking: give it a moment when the file is still empty."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    return None


@dataclass
class StopSignals:
    """SIGTERM/SIGINT/SIGHUP ask for a graceful stop; the handler only records it. A starting stack polls it
    (Stack.abort) and a running supervisor loop ends on it; `sma up` then stops the workers (their graceful
    shutdown) and the dev server. Raising from the handler instead could land in a finalizer or a library's
    catch-all and be swallowed."""

    requested: bool = False

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {sig: signal.signal(sig, self._handle) for sig in sigs}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
