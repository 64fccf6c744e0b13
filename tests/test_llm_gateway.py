"""The LLM gateway against local servers speaking the OpenAI and Anthropic wire formats (real SDK clients)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sma.models.llm import CallContext, ChatMessage, LLMRequest, ScriptDraft
from sma.services.llm.config import ProviderSettings
from sma.services.llm.errors import AllProvidersFailed, BudgetExceeded, NoProvider
from sma.services.llm.gateway import LLMGateway
from sma.services.llm.store import MemoryUsageStore
from tests.test_llm_fakes import DRAFT, FakeLLMServer, llm_settings, serving

CTX = CallContext(project_id="test", run_id="run-1", stage="script")
REQUEST = LLMRequest(system="You write scripts.", messages=[ChatMessage(role="user", text="Write one.")])


@pytest.fixture
def oai() -> Iterator[FakeLLMServer]:
    with serving("openai") as server:
        yield server


@pytest.fixture
def ant() -> Iterator[FakeLLMServer]:
    with serving("anthropic") as server:
        yield server


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[Any]:
    gateways: list[LLMGateway] = []

    def make(**kwargs: Any) -> LLMGateway:
        clock = kwargs.pop("clock", None)
        settings = llm_settings(tmp_path, **kwargs)
        extra = {"clock": clock} if clock is not None else {}
        gateway = LLMGateway(settings.llm, settings.secrets, MemoryUsageStore(), **extra)
        gateways.append(gateway)
        return gateway

    yield make
    for gateway in gateways:
        await gateway.aclose()


def _store(gateway: LLMGateway) -> MemoryUsageStore:
    assert isinstance(gateway.store, MemoryUsageStore)
    return gateway.store


async def test_openai_structured_output_is_parsed(oai: FakeLLMServer, make_gateway: Any) -> None:
    gateway = make_gateway(openai_url=oai.url, chain=["openai"])
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)

    assert out.value == ScriptDraft.model_validate(DRAFT)
    assert out.result.tier == "openai:gpt-4o-mini"
    [sent] = oai.requests
    assert sent["model"] == "gpt-4o-mini" and sent["messages"][0] == {"role": "system", "content": REQUEST.system}
    fmt = sent["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False
    assert set(fmt["json_schema"]["schema"]["required"]) == set(ScriptDraft.model_fields)
    assert oai.headers[0]["authorization"] == "Bearer sk-test-openai"
    [record] = _store(gateway).call_records
    assert (record.outcome, record.tokens_in, record.tokens_out) == ("ok", 1200, 400)
    assert record.cost_usd == pytest.approx((1200 * 0.15 + 400 * 0.60) / 1e6)
    assert (record.project_id, record.run_id, record.stage, record.provider) == ("test", "run-1", "script", "openai")


async def test_anthropic_forced_tool_call_is_parsed(ant: FakeLLMServer, make_gateway: Any) -> None:
    gateway = make_gateway(anthropic_url=ant.url, chain=["anthropic"])
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)

    assert out.value.hook == DRAFT["hook"] and out.result.tier == "anthropic:claude-haiku-4-5"
    [sent] = ant.requests
    assert sent["system"] == REQUEST.system and sent["tool_choice"] == {"type": "tool", "name": "scriptdraft"}
    assert sent["tools"][0]["input_schema"]["type"] == "object"
    headers = ant.headers[0]
    assert "sk-ant-test" in (headers.get("x-api-key", ""), headers.get("authorization", "").removeprefix("Bearer "))
    assert _store(gateway).call_records[0].cost_usd == pytest.approx((1200 * 1.0 + 400 * 5.0) / 1e6)


async def test_provider_500_hands_over_to_the_next_provider_at_once(oai: FakeLLMServer, ant: FakeLLMServer,
                                                                    make_gateway: Any) -> None:
    oai.script({"status": 500}, {"status": 500})
    gateway = make_gateway(openai_url=oai.url, anthropic_url=ant.url)
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)

    assert out.result.tier == "anthropic:claude-haiku-4-5"
    assert len(oai.requests) == 1 and len(ant.requests) == 1  # no retry inside the gateway: Temporal retries
    outcomes = [(c.provider, c.attempt, c.outcome) for c in _store(gateway).call_records]
    assert outcomes == [("openai", 1, "server_error"), ("anthropic", 1, "ok")]
    assert "HTTP 500" in _store(gateway).call_records[0].error


async def test_gateway_does_not_retry_a_429_and_says_the_failure_is_transient(oai: FakeLLMServer,
                                                                             make_gateway: Any) -> None:
    oai.script({"status": 429, "retry_after": 7})
    gateway = make_gateway(openai_url=oai.url, chain=["openai"])
    with pytest.raises(AllProvidersFailed) as caught:
        await gateway.structured(CTX, REQUEST, ScriptDraft)

    assert len(oai.requests) == 1 and [c.outcome for c in _store(gateway).call_records] == ["rate_limited"]
    assert caught.value.transient and caught.value.retry_after == 7  # for the activity's retry


async def test_a_client_error_everywhere_is_not_transient(oai: FakeLLMServer, make_gateway: Any) -> None:
    oai.script({"status": 400})
    gateway = make_gateway(openai_url=oai.url, chain=["openai"])
    with pytest.raises(AllProvidersFailed) as caught:
        await gateway.structured(CTX, REQUEST, ScriptDraft)
    assert not caught.value.transient and caught.value.retry_after is None


async def test_client_error_is_not_retried(oai: FakeLLMServer, ant: FakeLLMServer, make_gateway: Any) -> None:
    oai.script({"status": 400})
    gateway = make_gateway(openai_url=oai.url, anthropic_url=ant.url)
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)
    assert len(oai.requests) == 1 and out.result.provider == "anthropic"
    assert gateway.breaker.state("openai:gpt-4o-mini") == "closed"


async def test_timeout_moves_on_to_the_next_provider(oai: FakeLLMServer, ant: FakeLLMServer,
                                                     make_gateway: Any) -> None:
    oai.script({"delay": 1.5}, {"delay": 1.5})
    gateway = make_gateway(openai_url=oai.url, anthropic_url=ant.url,
                           providers=[ProviderSettings(name="openai", kind="openai", base_url=oai.url, timeout_s=0.3),
                                      ProviderSettings(name="anthropic", kind="anthropic", base_url=ant.url)])
    started = time.monotonic()
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)

    assert time.monotonic() - started < 1.4
    assert out.result.provider == "anthropic"
    first = _store(gateway).call_records[0]
    assert first.outcome == "timeout" and 250 <= first.latency_ms < 1400


async def test_circuit_breaker_opens_and_skips_a_failing_provider(oai: FakeLLMServer, ant: FakeLLMServer,
                                                                  make_gateway: Any) -> None:
    now = [1000.0]
    oai.default = {"status": 503}
    gateway = make_gateway(openai_url=oai.url, anthropic_url=ant.url, clock=lambda: now[0],
                           providers=[ProviderSettings(name="openai", kind="openai", base_url=oai.url),
                                      ProviderSettings(name="anthropic", kind="anthropic", base_url=ant.url)],
                           breaker={"failures": 2, "reset_s": 60})
    for _ in range(2):
        assert (await gateway.structured(CTX, REQUEST, ScriptDraft)).result.provider == "anthropic"
    assert len(oai.requests) == 2 and gateway.breaker.state("openai:gpt-4o-mini") == "open"

    out = await gateway.structured(CTX, REQUEST, ScriptDraft)
    assert out.result.provider == "anthropic" and len(oai.requests) == 2  # skipped: no request at all
    assert _store(gateway).call_records[-2].outcome == "circuit_open"

    now[0] += 61  # half-open: one trial call; it succeeds and closes the circuit
    oai.default = {"json": DRAFT}
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)
    assert out.result.provider == "openai" and len(oai.requests) == 3
    assert gateway.breaker.state("openai:gpt-4o-mini") == "closed"


async def test_budget_stop_makes_no_call(oai: FakeLLMServer, make_gateway: Any) -> None:
    # Worst case of one call: ~30 tokens in at $0.15/M + 2000 out at $0.60/M ~= $0.0012.
    gateway = make_gateway(openai_url=oai.url, chain=["openai"], budget=0.002)
    await gateway.structured(CTX, REQUEST, ScriptDraft)  # costs 1200 in + 400 out = $0.00042
    await gateway.structured(CTX, REQUEST, ScriptDraft)
    assert len(oai.requests) == 2
    with pytest.raises(BudgetExceeded) as caught:
        await gateway.structured(CTX, REQUEST, ScriptDraft)

    assert len(oai.requests) == 2  # the third call was not made
    message = str(caught.value)
    assert "daily budget $0.0020" in message and "spent today $0.0008" in message
    assert "llm.project_budgets.test" in message and "SMA_LLM__DAILY_BUDGET_USD" in message
    assert _store(gateway).call_records[-1].outcome == "budget_blocked"


async def test_budget_is_per_project_and_free_providers_are_never_blocked(tmp_path: Path) -> None:
    from sma.services.llm.budget import BudgetGuard

    settings = llm_settings(tmp_path, budget=1.0, project_budgets={"other": 0.0})
    guard = BudgetGuard(settings.llm, MemoryUsageStore())
    async with guard.reserve("test", 0.5):
        assert await guard.spent_today("test") == 0.5
        with pytest.raises(BudgetExceeded):
            async with guard.reserve("test", 0.6):
                pass
    assert await guard.spent_today("test") == 0.0
    with pytest.raises(BudgetExceeded):
        async with guard.reserve("other", 0.01):
            pass
    async with guard.reserve("other", 0.0):  # a local model costs nothing
        pass


async def test_fenced_json_with_trailing_commas_is_repaired(oai: FakeLLMServer, make_gateway: Any) -> None:
    broken = "Here you go:\n```json\n" + json.dumps(DRAFT, indent=1).replace("\n ]\n}", "\n ],\n}") + "\n```"
    assert "],\n}" in broken
    oai.script({"text": broken})
    gateway = make_gateway(openai_url=oai.url, chain=["openai"])
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)
    assert out.value.title == DRAFT["title"] and len(oai.requests) == 1


async def test_invalid_json_is_reasked_with_the_errors(oai: FakeLLMServer, make_gateway: Any) -> None:
    oai.script({"text": '{"title": "only a title"}'})
    gateway = make_gateway(openai_url=oai.url, chain=["openai"])
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)

    assert out.value.hook == DRAFT["hook"] and len(oai.requests) == 2
    retry = oai.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"title": "only a title"}'}
    assert "could not be used" in retry[-1]["content"] and "hook" in retry[-1]["content"]
    assert [c.outcome for c in _store(gateway).call_records] == ["invalid_output", "ok"]


async def test_invalid_output_everywhere_fails_with_reasons(oai: FakeLLMServer, make_gateway: Any) -> None:
    oai.default = {"text": "I cannot do that."}
    gateway = make_gateway(openai_url=oai.url, chain=["openai"])
    with pytest.raises(AllProvidersFailed, match="not a JSON object"):
        await gateway.structured(CTX, REQUEST, ScriptDraft)
    assert len(oai.requests) == 2  # first answer + one corrective re-ask


async def test_openai_compatible_server_in_prompt_mode(oai: FakeLLMServer, make_gateway: Any) -> None:
    local = ProviderSettings(name="ollama", kind="openai_compatible", base_url=oai.url, model="llama3.1:8b",
                             structured="prompt")
    gateway = make_gateway(providers=[local], chain=["ollama"])
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)

    assert out.result.tier == "ollama:llama3.1:8b"
    [sent] = oai.requests
    assert "response_format" not in sent and sent["max_tokens"] == 2000
    assert "JSON schema" in sent["messages"][0]["content"]
    assert _store(gateway).call_records[0].cost_usd == 0.0


async def test_chain_entry_can_pick_a_model(oai: FakeLLMServer, make_gateway: Any) -> None:
    local = ProviderSettings(name="vllm", kind="openai_compatible", base_url=oai.url, model="m1",
                             structured="tools")
    gateway = make_gateway(providers=[local], chain=["vllm:qwen2.5-7b"])
    out = await gateway.structured(CTX, REQUEST, ScriptDraft)
    assert out.result.tier == "vllm:qwen2.5-7b" and oai.requests[0]["model"] == "qwen2.5-7b"
    assert oai.requests[0]["tool_choice"]["function"]["name"] == "scriptdraft"


async def test_no_provider_says_what_to_set(tmp_path: Path) -> None:
    settings = llm_settings(tmp_path)
    gateway = LLMGateway(settings.llm, settings.secrets.model_copy(update={"openai_api_key": None,
                                                                           "anthropic_api_key": None}),
                         MemoryUsageStore())
    assert not gateway.available("script")
    with pytest.raises(NoProvider, match=r"secrets\.openai_api_key"):
        await gateway.structured(CTX, REQUEST, ScriptDraft)
