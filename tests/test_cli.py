"""The `sma` command line: config errors are clear, secrets are masked, health tells the truth."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from typer.testing import CliRunner

from sma.cli import app

runner = CliRunner()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"SMA_DATA_DIR": str(tmp_path / "data"), **extra}


def test_config_check_prints_effective_config_with_secrets_masked(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("temporal:\n  namespace: shop\n")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("openai_api_key: sk-live-abcdefghijklmnop\n")
    result = runner.invoke(app, ["--config", str(config), "--secrets", str(secrets), "config", "check"],
                           env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert "namespace: shop" in result.output
    assert "sk-live" not in result.output and "'**********'" in result.output


def test_bad_config_stops_with_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("media:\n  fps: fast\n")
    result = runner.invoke(app, ["--config", str(config), "config", "check"], env=_env(tmp_path))
    assert result.exit_code == 2
    assert str(config) in result.output and "media.fps" in result.output


def test_health_reports_a_queue_without_workers(tmp_path: Path, client: Client) -> None:
    address = client.service_client.config.target_host
    result = runner.invoke(app, ["health", "--queue", "sma-nobody-polls-this"],
                           env=_env(tmp_path, SMA_TEMPORAL__ADDRESS=address))
    assert result.exit_code == 1
    assert "sma-nobody-polls-this 0 worker(s) polling" in result.output


def test_unknown_queue_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["worker", "--queue", "sma-everything"], env=_env(tmp_path))
    assert result.exit_code == 2 and "unknown queue" in result.output
