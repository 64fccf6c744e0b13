"""The compose topology for many machines: SMA's state in PostgreSQL and the bucket, nothing shared on disk,
CPU workers safe to scale, metrics scraped from every service."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sma.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
SMA_SERVICES = ("migrate", "sma-workflows", "sma-cpu", "sma-gpu", "bot", "dashboard")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())["services"]


def _filled(value: str) -> str:
    """Compose's `${NAME:?message}` / `${NAME:-default}` with a stand-in value."""
    return re.sub(r"\$\{([A-Z_]+)(:[?-][^}]*)?\}", lambda m: f"x-{m.group(1).lower()}", value)


def test_no_volume_is_shared_between_sma_services(services: dict) -> None:
    for name in SMA_SERVICES:
        writable = [v for v in services[name].get("volumes", []) if not str(v).endswith(":ro")]
        assert writable == [], f"{name} mounts {writable}: SMA services keep state only in the database and bucket"


def test_cpu_workers_scale_without_clashing(services: dict) -> None:
    cpu = services["sma-cpu"]
    assert "ports" not in cpu and "container_name" not in cpu
    for name in ("sma-db", "minio", "postgresql", "temporal"):
        assert "ports" not in services[name], f"{name} must stay on the compose network"


@pytest.mark.parametrize("name", SMA_SERVICES)
def test_every_sma_service_uses_postgresql_and_the_bucket(services: dict, name: str, tmp_path: Path) -> None:
    env = {key: _filled(str(value)) for key, value in services[name]["environment"].items()}
    env["SMA_DATA_DIR"] = str(tmp_path)
    settings = load_settings(None, env=env)
    assert settings.database_url.startswith("postgresql+asyncpg://sma:")
    assert settings.database_url.endswith("@sma-db:5432/sma")
    assert settings.artifacts.backend == "s3" and settings.artifacts.s3.endpoint_url == "http://minio:9000"
    assert settings.metrics.enabled and settings.metrics.host == "0.0.0.0"


def test_prometheus_scrapes_services_that_exist(services: dict) -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    names = {n for job in config["scrape_configs"] for sd in job["dns_sd_configs"] for n in sd["names"]}
    aliases = {"sma-bot": "bot", "sma-dashboard": "dashboard"}
    assert {aliases.get(n, n) for n in names} <= set(services)
