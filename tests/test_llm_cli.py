"""`sma script` and `sma llm usage|providers` through the real command line, against a local OpenAI server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sma.cli import app
from tests.test_llm_fakes import FakeLLMServer, serving

runner = CliRunner()


@pytest.fixture
def oai() -> Iterator[FakeLLMServer]:
    with serving("openai") as server:
        yield server


def _files(tmp_path: Path, llm: str = "", key: bool = True) -> list[str]:
    config = tmp_path / "config.yaml"
    config.write_text(f"""data_dir: {tmp_path / 'data'}
logging:
  console: false
  json_file: false
pipeline:
  target_seconds: 20
projects:
  - id: test
    niche: developer tools
    platforms: [local, youtube]
{llm}""")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("openai_api_key: sk-test-cli\n" if key else "{}\n")
    return ["--config", str(config), "--secrets", str(secrets)]


def _llm(url: str, budget: str = "1.0") -> str:
    return f"""llm:
  daily_budget_usd: {budget}
  chains: {{script: [openai], vision: [openai]}}
  providers:
    - name: openai
      kind: openai
      base_url: {url}
"""


def test_script_command_prints_the_script_and_its_qa_report(tmp_path: Path, oai: FakeLLMServer) -> None:
    args = [*_files(tmp_path, _llm(oai.url)), "script", "--topic", "Small tests catch big bugs", "--summary",
            "A small test runs in a second. It catches the bug before your users do.", "-p", "test", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    [attempt] = payload["attempts"]
    assert attempt["tier"] == "openai:gpt-4o-mini" and payload["qa"]["passed"]
    assert payload["script"]["platform_hashtags"]["youtube"] == ["#shorts", "#testing"]
    assert attempt["budget_left_usd"] == pytest.approx(1.0 - attempt["cost_usd"])

    usage = runner.invoke(app, [*_files(tmp_path, _llm(oai.url)), "llm", "usage", "--json"])
    assert usage.exit_code == 0, usage.output
    data = json.loads(usage.stdout)
    [row] = data["rows"]
    assert (row["project_id"], row["provider"], row["calls"], row["tokens_in"]) == ("test", "openai", 1, 1200)
    assert data["today"]["test"]["budget_usd"] == 1.0


def test_script_command_offline_prints_a_readable_script(tmp_path: Path) -> None:
    result = runner.invoke(app, [*_files(tmp_path, key=False), "script", "--topic", "Why uv is fast", "-p", "test",
                                 "--fact", "uv resolves 10 packages at once."])
    assert result.exit_code == 0, result.output
    assert "attempt 1: tier template, QA_SCRIPT pass" in result.stdout
    assert "HOOK: uv resolves 10 packages at once." in result.stdout


def test_script_command_stops_on_the_budget_with_a_clear_message(tmp_path: Path, oai: FakeLLMServer) -> None:
    result = runner.invoke(app, [*_files(tmp_path, _llm(oai.url, budget="0.0001")), "script", "--topic", "X",
                                 "-p", "test"])
    assert result.exit_code == 1
    assert "LLM budget exceeded for project 'test'" in result.output and "llm.project_budgets.test" in result.output
    assert oai.requests == []


def test_providers_command_says_what_is_missing(tmp_path: Path) -> None:
    result = runner.invoke(app, [*_files(tmp_path, key=False), "llm", "providers"])
    assert result.exit_code == 0, result.output
    assert "no API key: set secrets.openai_api_key" in result.stdout and "template (offline)" in result.stdout


def test_unknown_project_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, [*_files(tmp_path), "script", "--topic", "X", "-p", "nope"])
    assert result.exit_code == 2 and "unknown project 'nope'" in result.output
