"""The audience fingerprint for the posting optimizer: the hours that work best per platform.

The calendar's optimizer (sma/services/scheduling/optimizer.py) shapes its prior with `default_hours` per
platform. `FingerprintHours.default_hours` replaces them with the learned best hours for each platform
whose latest report rests on at least `min_posts` posts; other platforms keep the configured ones.
A synchronous file read: cheap enough to call on every plan.
"""

from __future__ import annotations

from sma.services.intelligence.reports import ReportStore


class FingerprintHours:
    def __init__(self, reports: ReportStore, min_posts: int = 8) -> None:
        self.reports = reports
        self.min_posts = min_posts

    def learned(self, project_id: str) -> dict[str, list[int]]:
        report = self.reports.load(project_id)
        if report is None:
            return {}
        return {fp.platform: list(fp.best_hours) for fp in report.fingerprints
                if fp.best_hours and fp.n >= self.min_posts}

    def default_hours(self, project_id: str, configured: dict[str, list[int]]) -> dict[str, list[int]]:
        """`configured`, with the learned best hours instead for the platforms the fingerprint knows."""
        return {**{platform: list(hours) for platform, hours in configured.items()}, **self.learned(project_id)}
