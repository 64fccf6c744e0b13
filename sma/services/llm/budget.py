"""Per-project daily budget: a call whose worst-case cost would take the project over is not made.

Before a call its worst case (estimated prompt tokens, `max_tokens` out, the provider's prices) is held in
the usage store; the hold is released once the call's real cost is recorded. Spend is the sum of recorded
costs since 00:00 UTC plus the holds of calls in flight. With the database store the count and the hold are
one locked transaction (sma.db.locks), so the budget is exact across worker processes and hosts.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sma.models.llm import LLMRequest
from sma.services.llm.config import LLMSettings, ProviderSettings
from sma.services.llm.errors import BudgetExceeded
from sma.services.llm.store import UsageStore, start_of_day

CHARS_PER_TOKEN = 4
TOKENS_PER_IMAGE = 1100


def estimate_tokens_in(request: LLMRequest) -> int:
    chars = len(request.system) + sum(len(m.text) for m in request.messages)
    if request.json_schema:
        chars += len(str(request.json_schema))
    images = sum(len(m.images) for m in request.messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + images * TOKENS_PER_IMAGE


def cost_usd(provider: ProviderSettings, tokens_in: int, tokens_out: int) -> float:
    return round((tokens_in * provider.input_usd_per_mtok + tokens_out * provider.output_usd_per_mtok) / 1e6, 8)


def worst_case_usd(provider: ProviderSettings, request: LLMRequest) -> float:
    return cost_usd(provider, estimate_tokens_in(request), request.max_tokens or provider.max_tokens)


class BudgetGuard:
    def __init__(self, settings: LLMSettings, store: UsageStore) -> None:
        self.settings = settings
        self.store = store

    async def spent_today(self, project_id: str) -> float:
        return await self.store.spent_since(project_id, start_of_day()) + await self.store.held(project_id)

    @asynccontextmanager
    async def reserve(self, project_id: str, estimate: float) -> AsyncIterator[None]:
        """Hold `estimate` against the budget for the duration of a call, or raise BudgetExceeded."""
        budget = self.settings.budget_for(project_id)
        if budget is None or estimate <= 0:
            yield
            return
        hold, spent = await self.store.hold(project_id, estimate, budget, start_of_day())
        if hold is None:
            raise BudgetExceeded(project_id, budget, spent, estimate)
        try:
            yield
        finally:
            await self.store.release(hold)
