"""CPU-bound activities of trend discovery (normalisation, deduplication, embeddings) for the sma-cpu worker.

A sync `def` on the worker's thread pool (DESIGN.md convention 8); the embedding model loads on first use
and stays loaded for later scans.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sma.models.trends import RankRequest, RankResult
from sma.services.trends.niche import NicheFilter
from sma.settings import ConfigError, Settings


class TrendRankActivities:
    def __init__(self, settings: Settings, niche_filter: NicheFilter) -> None:
        self.settings = settings
        self.niche_filter = niche_filter

    @activity.defn(name="trends_rank")
    def rank(self, req: RankRequest) -> RankResult:
        from sma.services.trends.service import rank

        try:
            niche = self.settings.project(req.project_id).niche
        except ConfigError as exc:
            raise ApplicationError(str(exc), type="ConfigError", non_retryable=True) from None
        return rank(self.settings.trends, self.niche_filter, niche, req)


def build(settings: Settings) -> list[Callable[..., Any]]:
    """The activities this module contributes to the sma-cpu worker."""
    from sma.services.trends.niche import SentenceEmbedder

    embedder = SentenceEmbedder(settings.trends.embedding_model)
    niche_filter = NicheFilter(embedder, settings.trends.off_niche_topics)
    return [TrendRankActivities(settings, niche_filter).rank]
