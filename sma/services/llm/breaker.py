"""Circuit breaker: stop asking a provider that keeps failing, try it again after a pause.

closed → (N consecutive failures) → open → (reset_s passed) → half-open: one trial call; success closes the
circuit, failure opens it again. State lives in the worker process (one gateway per worker).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    trial_running: bool = False


class CircuitBreaker:
    def __init__(self, failures: int = 3, reset_s: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self.clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def _get(self, key: str) -> _Circuit:
        return self._circuits.setdefault(key, _Circuit())

    def state(self, key: str) -> State:
        circuit = self._get(key)
        if circuit.opened_at is None:
            return "closed"
        if self.clock() - circuit.opened_at >= self.reset_s:
            return "half_open"
        return "open"

    def allow(self, key: str) -> bool:
        """May a call go to `key` now? In half-open state only one trial call at a time."""
        state = self.state(key)
        if state == "closed":
            return True
        if state == "open":
            return False
        circuit = self._get(key)
        if circuit.trial_running:
            return False
        circuit.trial_running = True
        return True

    def success(self, key: str) -> None:
        self._circuits[key] = _Circuit()

    def failure(self, key: str) -> None:
        circuit = self._get(key)
        circuit.failures += 1
        circuit.trial_running = False
        if circuit.opened_at is not None or circuit.failures >= self.threshold:
            circuit.opened_at = self.clock()

    def release(self, key: str) -> None:
        """A trial call that ended without a verdict on the provider's health (e.g. invalid JSON)."""
        self._get(key).trial_running = False

    def retry_in(self, key: str) -> float:
        circuit = self._get(key)
        if circuit.opened_at is None:
            return 0.0
        return max(0.0, self.reset_s - (self.clock() - circuit.opened_at))
