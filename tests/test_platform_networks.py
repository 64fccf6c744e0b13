"""What the five short-form networks share: credentials through `sma credentials set`, registration with their
own options, and text fitted to each network's limit in that network's unit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from sma.cli import app
from sma.db.engine import Database
from sma.services.platforms.config import (
    BlueskyOptions,
    LinkedInOptions,
    MastodonOptions,
    PublishingSettings,
    ThreadsOptions,
    XOptions,
)
from sma.services.platforms.credentials import FIELDS, CredentialStore
from sma.services.platforms.metadata import build_draft, graphemes, x_length
from sma.services.platforms.registry import METRIC_PLATFORMS, PLATFORMS
from tests.platform_fakes.kit import script

NEW = {"mastodon": MastodonOptions, "bluesky": BlueskyOptions, "x": XOptions, "threads": ThreadsOptions,
       "linkedin": LinkedInOptions}
runner = CliRunner()


def test_each_new_network_has_an_adapter_credentials_and_its_own_options() -> None:
    publishing = PublishingSettings()
    for platform, options in NEW.items():
        assert platform in PLATFORMS and platform in FIELDS
        assert type(publishing.options("any", platform)) is options
    assert {"mastodon", "bluesky", "x", "threads"} <= METRIC_PLATFORMS and "linkedin" not in METRIC_PLATFORMS


@pytest.mark.parametrize(("platform", "measure", "limit"), [
    ("mastodon", len, 500), ("bluesky", graphemes, 300), ("x", x_length, 280), ("threads", len, 500),
    ("linkedin", len, 3000)])
def test_text_fits_each_network_in_its_unit(platform: str, measure, limit: int) -> None:  # type: ignore[no-untyped-def]
    long = script(description="速い依存関係の解決 — uv installs in milliseconds. " * 120)
    draft = build_draft(platform, long, PublishingSettings().options("any", platform))
    assert measure(draft.caption) <= limit and draft.caption.split()[-1].startswith("#")
    assert any("shortened" in note for note in draft.notes)


def test_cli_stores_the_credentials_of_the_new_networks(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    config, secrets = tmp_path / "config.yaml", tmp_path / "secrets.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nlogging: {{console: false}}\n"
                      "projects:\n  - id: test\n    platforms: [local, bluesky, mastodon]\n")
    secrets.write_text(yaml.safe_dump({"fernet_key": key}))
    args = ["--config", str(config), "--secrets", str(secrets)]

    result = runner.invoke(app, [*args, "credentials", "set", "test", "bluesky"],
                           input="handle=devtools.bsky.social\napp_password=abcd-efgh-ijkl-mnop\n")
    assert result.exit_code == 0, result.output
    assert "fields: app_password, handle" in result.output and "abcd-efgh" not in result.output

    result = runner.invoke(app, [*args, "credentials", "set", "test", "mastodon"], input="access_token=tok\n")
    assert result.exit_code != 0 and "missing required field(s) for mastodon: instance_url" in result.output

    async def read() -> str | None:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'sma.db'}")
        try:
            creds = await CredentialStore(database, [key]).get("test", "bluesky")
            return creds.reveal("app_password") if creds else None
        finally:
            await database.close()

    assert asyncio.run(read()) == "abcd-efgh-ijkl-mnop"
