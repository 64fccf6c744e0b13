"""The three outcomes a platform error maps to: try again later, give up now, or ask the creator to re-auth.

Adapters translate each API's error codes into these; the publish service and the activity decide what
Temporal does with them. Messages are written for the creator and never carry a token.
"""

from __future__ import annotations


class PlatformError(Exception):
    """Base of the mapped platform errors; `str()` is safe to show to the creator."""


class RetryLater(PlatformError):
    """Transient: rate limits (429), 5xx, timeouts, processing not finished. Temporal retries the activity."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NoAnswer(RetryLater):
    """The request may or may not have been applied: the connection failed before an answer arrived."""


class Rejected(PlatformError):
    """Permanent for this video: invalid metadata, a file the platform refuses, a policy block. Fail fast."""


class ReauthRequired(PlatformError):
    """The credentials are missing, expired or lack a permission; only the creator can fix it."""


class Unauthorized(ReauthRequired):
    """The API rejected the access token (401): refresh once and repeat, else the creator must re-authorise."""


class Uncertain(PlatformError):
    """An earlier attempt may have posted and the platform offers no way to check; never post again blindly."""


class NotConfigured(PlatformError):
    """The project has no adapter or credentials for this platform."""


def reauth_hint(project_id: str, platform: str, what: str) -> str:
    """The message the creator gets in Telegram: what happened and the one command that fixes it."""
    return (f"{what}. Re-authorise {platform} for project '{project_id}': run "
            f"`sma credentials set {project_id} {platform}` with fresh credentials.")
