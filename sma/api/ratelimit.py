"""Per-token request limit: a sliding one-minute window kept in this process.

In process on purpose: a database counter (like the dashboard's login throttle) would be exact across
several API processes but costs a write per request; with N processes a token gets N times the
allowance, which the plan accepts for a single-machine deployment.
"""

from __future__ import annotations

import math
import time
from collections import deque

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, window_s: float = WINDOW_S) -> None:
        self.per_minute, self.window_s = per_minute, window_s
        self._seen: dict[str, deque[float]] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """Count one request; 0 when allowed, else the seconds to wait before the next one is."""
        now = time.monotonic() if now is None else now
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= self.per_minute:
            return max(seen[0] + self.window_s - now, 0.001)
        seen.append(now)
        return 0.0


def retry_after(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))
