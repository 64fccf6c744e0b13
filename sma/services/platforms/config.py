"""Configuration of publishing and analytics (sections `publishing:` and `analytics:`)."""

from __future__ import annotations

from sma.models.section import Section


class PublishingSettings(Section):
    """Filled in by the publishing issue."""


class AnalyticsSettings(Section):
    """Filled in by the publishing and analytics issue."""
