"""Credentials: Fernet at rest, key rotation with MultiFernet, `sma credentials` / `sma secrets rotate`
through the real command line, and no secret in logs, results or the publish records."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from pydantic import SecretStr
from typer.testing import CliRunner

from sma.cli import app
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.logging import configure_logging, reset_logging
from sma.services.platforms.credentials import CredentialError, Credentials, CredentialStore
from sma.settings import LoggingSettings, Settings
from tests.platform_fakes.kit import api_for, harness, make_video, settings_for
from tests.platform_fakes.telegram import FakeTelegram
from tests.platform_fakes.youtube import FakeYouTube

runner = CliRunner()
SECRET = "yt-client-secret-do-not-leak"
REFRESH = "1//refresh-token-do-not-leak"


@pytest.fixture(autouse=True)
def _no_logging_leftovers() -> Iterator[None]:
    yield
    reset_logging()


def _creds(project: str = "test", platform: str = "youtube", **values: str) -> Credentials:
    return Credentials(project_id=project, platform=platform, values={k: SecretStr(v) for k, v in values.items()})


async def test_stored_encrypted_and_never_shown(database: Database, settings: Settings) -> None:
    key = Fernet.generate_key().decode()
    store = CredentialStore(database, [key])
    await store.put(_creds(client_id="cid", client_secret=SECRET, refresh_token=REFRESH))

    loaded = await store.get("test", "youtube")
    assert loaded is not None and loaded.reveal("client_secret") == SECRET
    assert SECRET not in repr(loaded) and SECRET not in str(loaded.model_dump())
    await database.close()
    raw = (settings.data_dir / "sma.db").read_bytes() + b"".join(
        p.read_bytes() for p in settings.data_dir.glob("sma.db-*"))
    assert SECRET.encode() not in raw and REFRESH.encode() not in raw

    with pytest.raises(CredentialError, match="fernet_key changed without `sma secrets rotate`"):
        await CredentialStore(database, [Fernet.generate_key().decode()]).get("test", "youtube")
    both = CredentialStore(database, [Fernet.generate_key().decode(), key])  # old key second: still readable
    assert (await both.get("test", "youtube")) is not None


def _files(tmp_path: Path, secrets: str = "{}\n") -> tuple[list[str], Path]:
    config = tmp_path / "config.yaml"
    config.write_text(f"""data_dir: {tmp_path / 'data'}
logging:
  console: false
  json_file: true
  level: DEBUG
projects:
  - id: test
    platforms: [local, youtube, telegram]
""")
    path = tmp_path / "secrets.yaml"
    path.write_text(secrets)
    return ["--config", str(config), "--secrets", str(path)], path


def test_cli_set_list_rotate_delete(tmp_path: Path) -> None:
    args, secrets = _files(tmp_path)
    result = runner.invoke(app, [*args, "credentials", "set", "test", "youtube"], input="{}")
    assert result.exit_code == 2 and "no Fernet key configured" in result.output

    result = runner.invoke(app, [*args, "secrets", "rotate"])
    assert result.exit_code == 0, result.output
    first_key = yaml.safe_load(secrets.read_text())["fernet_key"]
    assert "created a Fernet key" in result.output and stat.S_IMODE(secrets.stat().st_mode) == 0o600

    payload = json.dumps({"client_id": "cid.apps", "client_secret": SECRET, "refresh_token": REFRESH,
                          "expires_at": "2030-01-01T00:00:00Z"})
    result = runner.invoke(app, [*args, "credentials", "set", "test", "youtube"], input=payload)
    assert result.exit_code == 0, result.output
    assert "fields: client_id, client_secret, refresh_token" in result.output and SECRET not in result.output

    result = runner.invoke(app, [*args, "credentials", "set", "test", "telegram"], input="chat_id=@chan\n# x\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*args, "credentials", "list"])
    assert "youtube" in result.output and "2030-01-01T00:00" in result.output and "telegram" in result.output
    assert SECRET not in result.output and REFRESH not in result.output

    result = runner.invoke(app, [*args, "secrets", "rotate"])
    assert result.exit_code == 0 and "re-encrypted 2 credential(s)" in result.output
    new_key = yaml.safe_load(secrets.read_text())["fernet_key"]
    assert new_key != first_key and "," not in new_key

    async def read(keys: list[str]) -> Credentials | None:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'sma.db'}")
        try:
            return await CredentialStore(database, keys).get("test", "youtube")
        finally:
            await database.close()

    import asyncio

    assert asyncio.run(read([new_key])).reveal("client_secret") == SECRET  # type: ignore[union-attr]
    with pytest.raises(CredentialError):
        asyncio.run(read([first_key]))  # the old key no longer opens anything

    result = runner.invoke(app, [*args, "secrets", "rotate", "--keep-old"])
    assert result.exit_code == 0 and "kept 1 old key(s)" in result.output
    assert yaml.safe_load(secrets.read_text())["fernet_key"].endswith("," + new_key)

    result = runner.invoke(app, [*args, "credentials", "delete", "test", "telegram"])
    assert result.exit_code == 0
    log = (tmp_path / "data" / "logs" / "sma.jsonl").read_text()
    assert SECRET not in log and REFRESH not in log


def test_cli_rejects_bad_input_and_keys_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args, _ = _files(tmp_path, f"fernet_key: {Fernet.generate_key().decode()}\n")
    result = runner.invoke(app, [*args, "credentials", "set", "test", "youtube"], input="client_id=x\n")
    assert result.exit_code == 2
    assert "missing required field(s) for youtube: client_secret, refresh_token" in result.output
    result = runner.invoke(app, [*args, "credentials", "set", "test", "youtube"], input='{"password": "p"}')
    assert result.exit_code == 2 and "unknown field(s) password" in result.output
    result = runner.invoke(app, [*args, "credentials", "set", "nope", "youtube"], input="{}")
    assert result.exit_code == 2 and "unknown project 'nope'" in result.output
    result = runner.invoke(app, [*args, "credentials", "set", "test", "myspace"], input="{}")
    assert result.exit_code == 2 and "unknown platform" in result.output

    monkeypatch.setenv("SMA_SECRETS__FERNET_KEY", Fernet.generate_key().decode())
    result = runner.invoke(app, [*args, "secrets", "rotate"])
    assert result.exit_code == 1 and "SMA_SECRETS__FERNET_KEY" in result.output


async def test_no_secret_reaches_logs_results_or_records(tmp_path: Path, settings: Settings,
                                                         database: Database) -> None:
    video = make_video(tmp_path / "v.mp4", seconds=2, bitrate="300k")
    with FakeYouTube(client_secret=SECRET, refresh_token=REFRESH) as yt, FakeTelegram() as tg:
        s = settings_for(settings, api=api_for(youtube=yt.url, google_oauth=yt.url, telegram=tg.url))
        s = s.model_copy(update={"logging": LoggingSettings(level="DEBUG", console=False)})
        configure_logging(s)
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.DEBUG)  # the chattiest case: every URL logged
        h = harness(s, database, video)
        await h.set_credentials("youtube", client_id=yt.client_id, client_secret=SECRET, refresh_token=REFRESH)
        await h.set_credentials("telegram", chat_id=tg.channel, bot_token=tg.token)
        yt.fail("POST", r"/upload/youtube/v3/videos", 401, {"error": {"code": 401, "message": "bad"}})
        posts = [await h.service.publish(h.request(), "youtube"), await h.service.publish(h.request(), "telegram")]
        await h.set_credentials("telegram", chat_id=tg.channel, bot_token="987654:AAwrong-token-xxxxxxxxxxxxxxxxxxxxx")
        posts.append(await h.service.publish(h.request(run_id="run-2"), "telegram"))
        tokens = list(yt.tokens)
    assert [p.status for p in posts] == ["published", "published", "failed"]
    records = [await h.ledger.get(r, p) for r, p in (("content-test-item1", "youtube"),
                                                        ("content-test-item1", "telegram"), ("run-2", "telegram"))]
    haystack = (s.data_dir / "logs" / "sma.jsonl").read_text() + json.dumps([p.model_dump() for p in posts]) \
        + json.dumps([r.model_dump(mode="json") for r in records if r])
    assert "HTTP Request" in haystack  # httpx really logged its requests
    for secret in (SECRET, REFRESH, tg.token, "AAwrong-token", *tokens):
        assert secret not in haystack, secret


def test_migrated_database_has_the_publishing_tables(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from sma.db.engine import make_sync_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    engine = make_sync_engine(url)
    try:
        names = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"publish_records", "platform_credentials", "post_metrics"} <= names
