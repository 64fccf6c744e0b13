"""The interface every publishing adapter implements."""

from __future__ import annotations

from typing import Protocol

from sma.models.pipeline import PostResult, PublishRequest


class Platform(Protocol):
    name: str

    def publish(self, req: PublishRequest) -> PostResult:
        """Publish once: a retry of the same run must return the first post, never a second copy."""
        ...
