"""The LLM gateway: one call site for every stage, over an ordered chain of providers.

For each chain entry (`provider` or `provider:model`): skip it if unavailable or its circuit is open;
reserve its worst-case cost against the project's daily budget (BudgetExceeded stops everything); call it
once under a hard timeout; validate structured output and re-ask once with the validation errors;
otherwise move to the next entry. Every call is recorded.

Retries: the gateway never waits and asks the same provider again. A 429, a 5xx or a timeout moves on to
the next provider at once; when the whole chain failed and at least one failure was transient, the
AllProvidersFailed it raises says so (`transient`, with the longest `retry_after` a provider asked for).
The activity turns that into a retryable ApplicationError, so Temporal's retry policy of the step is the
one retry layer (backoff, attempt cap, visible in the run's pending-activity info); only its last attempt
falls back (the template script, a skipped media analysis). Nesting a second retry loop inside the
activity would multiply the attempts and hide them from Temporal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from pydantic import BaseModel

from sma import metrics
from sma.models.llm import CallContext, CallRecord, ChatMessage, Completion, LLMRequest, LLMResult, Outcome
from sma.services.llm.breaker import CircuitBreaker
from sma.services.llm.budget import BudgetGuard, cost_usd, worst_case_usd
from sma.services.llm.config import LLMSettings, ProviderSettings
from sma.services.llm.errors import AllProvidersFailed, BudgetExceeded, InvalidOutput, NoProvider, ProviderError
from sma.services.llm.providers import Provider, availability, build_provider
from sma.services.llm.store import UsageStore
from sma.services.llm.structured import parse_output, strict_schema
from sma.settings import Secrets

T = TypeVar("T", bound=BaseModel)
log = structlog.get_logger("sma.llm")


@dataclass
class Structured(Generic[T]):
    value: T
    result: LLMResult


@dataclass
class _Entry:
    name: str
    model: str
    settings: ProviderSettings

    @property
    def key(self) -> str:
        return f"{self.name}:{self.model}"


class LLMGateway:
    def __init__(
        self,
        settings: LLMSettings,
        secrets: Secrets,
        store: UsageStore,
        providers: dict[str, Provider] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.store = store
        self.budget = BudgetGuard(settings, store)
        self.breaker = CircuitBreaker(settings.breaker.failures, settings.breaker.reset_s, clock)
        self._providers: dict[str, Provider] = dict(providers or {})
        self._provider_settings = settings.provider_settings()
        self._clock = clock

    # ------------------------------------------------------------ chain

    def chain(self, stage: str) -> list[tuple[str, str, bool, str]]:
        """(entry, model, available, reason) for each entry of a stage's chain, in order."""
        rows = []
        for raw in self.settings.chains.get(stage, []):
            name, _, model = raw.partition(":")
            settings = self._provider_settings.get(name)
            if settings is None:
                rows.append((raw, model, False, f"unknown provider {name!r}: add it to llm.providers"))
                continue
            ok, reason = availability(settings, self.secrets)
            if ok and stage == "vision" and not settings.vision:
                ok, reason = False, "not vision-capable (set vision: true)"
            rows.append((name, model or settings.model, ok, reason))
        return rows

    def _entries(self, stage: str) -> tuple[list[_Entry], list[str]]:
        entries, skipped = [], []
        for name, model, ok, reason in self.chain(stage):
            if ok:
                entries.append(_Entry(name, model, self._provider_settings[name]))
            else:
                skipped.append(f"{name}: {reason}")
        return entries, skipped

    def available(self, stage: str) -> bool:
        return bool(self._entries(stage)[0])

    def _provider(self, entry: _Entry) -> Provider:
        if entry.name not in self._providers:
            self._providers[entry.name] = build_provider(entry.settings, self.secrets)
        return self._providers[entry.name]

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()

    # ------------------------------------------------------------ public calls

    async def structured(self, ctx: CallContext, request: LLMRequest, model: type[T]) -> Structured[T]:
        """A validated `model` instance from the first provider of the chain that can produce one."""
        request = request.model_copy(update={
            "json_schema": request.json_schema or strict_schema(model),
            "schema_name": request.schema_name or model.__name__.lower(),
        })
        parsed: dict[str, BaseModel] = {}

        def check(completion: Completion) -> None:
            parsed["value"] = parse_output(model, completion)

        result = await self._run_chain(ctx, request, check)
        return Structured(value=parsed["value"], result=result)  # type: ignore[arg-type]  # parse_output made a `model`

    async def complete(self, ctx: CallContext, request: LLMRequest) -> LLMResult:
        return await self._run_chain(ctx, request, lambda completion: None)

    # ------------------------------------------------------------ chain runner

    async def _run_chain(self, ctx: CallContext, request: LLMRequest,
                         check: Callable[[Completion], None]) -> LLMResult:
        entries, reasons = self._entries(ctx.stage)
        if not entries:
            raise NoProvider(f"no provider for stage {ctx.stage!r}: " + ("; ".join(reasons) or "empty chain"))
        deadline = self._clock() + self.settings.stage_timeout_s
        trail: list[CallRecord] = []
        transient: list[ProviderError] = []
        for entry in entries:
            if self._clock() >= deadline:
                reasons.append(f"{entry.name}: stage deadline of {self.settings.stage_timeout_s:.0f} s reached")
                break
            try:
                completion = await self._try_entry(ctx, entry, request, check, deadline, trail)
            except (ProviderError, InvalidOutput) as exc:
                if isinstance(exc, ProviderError) and exc.retryable:
                    transient.append(exc)
                reasons.append(f"{entry.key}: {exc}")
                log.warning("llm provider failed", stage=ctx.stage, provider=entry.name, model=entry.model,
                            error=str(exc))
                continue
            return LLMResult(provider=entry.name, model=entry.model, completion=completion,
                             cost_usd=trail[-1].cost_usd, calls=trail)
        hints = [e.retry_after for e in transient if e.retry_after is not None]
        raise AllProvidersFailed(f"every provider of stage {ctx.stage!r} failed: " + "; ".join(reasons),
                                 transient=bool(transient), retry_after=max(hints, default=None))

    async def _try_entry(self, ctx: CallContext, entry: _Entry, request: LLMRequest,
                         check: Callable[[Completion], None], deadline: float, trail: list[CallRecord]) -> Completion:
        """One call and its corrective re-asks against one provider; raises when it is given up on."""
        repairs = 0
        while True:
            try:
                return await self._call_once(ctx, entry, request, check, deadline, trail)
            except InvalidOutput as exc:
                if repairs >= self.settings.repair_attempts or self._clock() >= deadline:
                    raise
                repairs += 1
                request = _corrective(request, exc)

    async def _call_once(self, ctx: CallContext, entry: _Entry, request: LLMRequest,
                         check: Callable[[Completion], None], deadline: float, trail: list[CallRecord]) -> Completion:
        """One call, unless the provider's circuit is open (then it is skipped without a request)."""
        if not self.breaker.allow(entry.key):
            wait = self.breaker.retry_in(entry.key)
            await self._save(trail, self._record(ctx, entry, trail, "circuit_open",
                                                 error=f"circuit open; next trial in {wait:.0f} s"))
            raise ProviderError("skipped: circuit open after repeated failures", "circuit_open", False)
        return await self._attempt(ctx, entry, request, check, deadline, trail)

    async def _attempt(self, ctx: CallContext, entry: _Entry, request: LLMRequest,
                       check: Callable[[Completion], None], deadline: float, trail: list[CallRecord]) -> Completion:
        """One HTTP call under the budget reservation; its record is saved before the reservation ends."""
        estimate = worst_case_usd(entry.settings, request)
        timeout = max(0.05, min(entry.settings.timeout_s, deadline - self._clock()))
        try:
            reservation = self.budget.reserve(ctx.project_id, estimate)
            await reservation.__aenter__()
        except BudgetExceeded as exc:
            self.breaker.release(entry.key)
            await self._save(trail, self._record(ctx, entry, trail, "budget_blocked", error=str(exc)[:500]))
            raise
        try:
            return await self._call(ctx, entry, request, check, timeout, trail)
        finally:
            await reservation.__aexit__(None, None, None)

    async def _call(self, ctx: CallContext, entry: _Entry, request: LLMRequest,
                    check: Callable[[Completion], None], timeout: float, trail: list[CallRecord]) -> Completion:
        provider = self._provider(entry)  # builds the SDK client (imports it) outside the timed call
        started = self._clock()
        try:
            completion = await asyncio.wait_for(provider.complete(request, entry.model, timeout), timeout)
        except asyncio.CancelledError:
            self.breaker.release(entry.key)
            raise
        except (TimeoutError, ProviderError) as exc:
            error = exc if isinstance(exc, ProviderError) else ProviderError(
                f"timed out after {timeout:.1f} s", "timeout", retryable=True)
            if error.outcome == "client_error":
                self.breaker.release(entry.key)
            else:
                self.breaker.failure(entry.key)
            await self._save(trail, self._record(ctx, entry, trail, error.outcome, error=str(error)[:500],
                                                 latency=self._clock() - started))
            raise error from None
        self.breaker.success(entry.key)
        record = self._record(ctx, entry, trail, "ok", completion=completion, latency=self._clock() - started)
        try:
            check(completion)
        except InvalidOutput as exc:
            record.outcome, record.error = "invalid_output", str(exc)[:500]
            await self._save(trail, record)
            raise
        await self._save(trail, record)
        return completion

    # ------------------------------------------------------------ helpers

    def _record(self, ctx: CallContext, entry: _Entry, trail: list[CallRecord], outcome: Outcome, *,
                completion: Completion | None = None, latency: float = 0.0, error: str = "") -> CallRecord:
        tokens_in = completion.tokens_in if completion else 0
        tokens_out = completion.tokens_out if completion else 0
        attempt = 1 + sum(1 for c in trail if c.provider == entry.name and c.model == entry.model)
        return CallRecord(
            project_id=ctx.project_id, run_id=ctx.run_id, stage=ctx.stage, provider=entry.name, model=entry.model,
            attempt=attempt, tokens_in=tokens_in, tokens_out=tokens_out,
            cost_usd=cost_usd(entry.settings, tokens_in, tokens_out), latency_ms=int(latency * 1000),
            outcome=outcome, error=error,
        )

    async def _save(self, trail: list[CallRecord], record: CallRecord) -> None:
        trail.append(record)
        metrics.provider_call("llm", record.provider, record.outcome, record.cost_usd)
        await self.store.record_call(record)


def _corrective(request: LLMRequest, exc: InvalidOutput) -> LLMRequest:
    """The same conversation plus the bad reply and what was wrong with it."""
    raw = exc.raw
    messages = [
        *request.messages,
        ChatMessage(role="assistant", text=raw[:4000] or "(empty reply)"),
        ChatMessage(role="user", text=f"That reply could not be used: {exc}. Reply again with only the "
                                      "corrected JSON object that matches the schema."),
    ]
    return request.model_copy(update={"messages": messages})
