"""Coverage: has the project already made something about this topic? Near-duplicates get the penalty.

`CoverageChecker` is the seam: the default compares titles with the content the project produced
(content_items) by fuzzy similarity; the intelligence issue's Mem0 search plugs in behind the same
protocol.
"""

from __future__ import annotations

from typing import Protocol

from sma.db.engine import Database
from sma.models.trends import CoverageResult
from sma.services.trends.store import produced_titles
from sma.services.trends.text import similarity


class CoverageChecker(Protocol):
    name: str

    async def check(self, project_id: str, titles: list[str]) -> CoverageResult:
        """Per title: a penalty in [0, 1] (0 = not covered) and the covered title it resembles."""
        ...


def penalties_against(titles: list[str], covered: list[str], threshold: float) -> CoverageResult:
    """The similarity to the closest covered title when it reaches `threshold`, else 0."""
    penalties, by = [], []
    for title in titles:
        best, best_title = 0.0, ""
        for other in covered:
            score = similarity(title, other)
            if score > best:
                best, best_title = score, other
        hit = best >= threshold
        penalties.append(round(best, 4) if hit else 0.0)
        by.append(best_title if hit else "")
    return CoverageResult(penalties=penalties, covered_by=by)


class ProducedTitlesChecker:
    """Default checker: fuzzy title similarity against the project's content_items."""

    name = "produced-titles"

    def __init__(self, database: Database, threshold: float) -> None:
        self.database = database
        self.threshold = threshold

    async def check(self, project_id: str, titles: list[str]) -> CoverageResult:
        covered = await produced_titles(self.database, project_id)
        result = penalties_against(titles, covered, self.threshold)
        result.checker = self.name
        return result
