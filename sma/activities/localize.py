"""Worker interceptor: an activity's input artifacts are on this host before the activity starts.

Installed only when artifacts live in a shared bucket; with the local store every ref already points here.
A missing artifact fails the attempt as non-retryable: the bytes will not appear by waiting.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from sma.services.artifacts import ArtifactStore
from sma.services.blobs.localize import ArtifactMissing, localize_tree


class ArtifactLocalizer(Interceptor):
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self.store)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, store: ArtifactStore) -> None:
        super().__init__(next)
        self.store = store

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            input.args = await asyncio.to_thread(localize_tree, list(input.args), self.store)
        except ArtifactMissing as exc:
            raise ApplicationError(str(exc), type="ArtifactMissing", non_retryable=True) from exc
        return await self.next.execute_activity(input)
