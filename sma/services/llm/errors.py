"""Errors of the LLM gateway, each with a message a person can act on."""

from __future__ import annotations

from sma.models.llm import Outcome


class LLMError(Exception):
    """Base of gateway errors."""


class ProviderError(LLMError):
    """One failed call; `retryable` says whether the same provider may be asked again."""

    def __init__(self, message: str, outcome: Outcome, retryable: bool, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.outcome: Outcome = outcome
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class InvalidOutput(LLMError):
    """The reply was not valid JSON for the output contract; the message lists what was wrong."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


class AllProvidersFailed(LLMError):
    """Every provider of a stage's chain failed or was unavailable; the message lists why, per provider.

    `transient`: at least one failure (429, 5xx, timeout) may pass, so a later attempt of the activity may
    succeed; `retry_after`: the longest wait a provider asked for, if any."""

    def __init__(self, message: str, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class NoProvider(AllProvidersFailed):
    """The stage has no usable provider (no keys, none configured, all disabled)."""


class BudgetExceeded(LLMError):
    """A call would take the project over its daily budget; it was not made."""

    def __init__(self, project_id: str, budget: float, spent: float, estimate: float) -> None:
        self.project_id = project_id
        self.budget = budget
        self.spent = spent
        self.estimate = estimate
        super().__init__(
            f"LLM budget exceeded for project '{project_id}': daily budget {_usd(budget)}, spent today "
            f"{_usd(spent)}, the next call could cost up to {_usd(estimate)}, so it was not made. Raise "
            f"llm.project_budgets.{project_id} (or llm.daily_budget_usd) in config/config.yaml, e.g. "
            f"SMA_LLM__DAILY_BUDGET_USD={max(1.0, round(budget * 2, 2))}, or wait for the reset at 00:00 UTC."
        )


def _usd(value: float) -> str:
    return f"${value:.2f}" if value >= 1 else f"${value:.4f}"
