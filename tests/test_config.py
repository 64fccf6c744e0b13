"""Configuration loading: every error names the key and where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from sma.settings import ConfigError, Settings, load_settings, masked_dump

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No implicit config/config.yaml or config/secrets.yaml from the repository.
    monkeypatch.chdir(tmp_path)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"SMA_DATA_DIR": str(tmp_path / "data"), **extra}


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str, **env: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=_env(tmp_path, **env))
    return str(info.value)


def test_repository_config_loads(tmp_path: Path) -> None:
    settings = load_settings(REPO_CONFIG, env=_env(tmp_path))
    assert settings.temporal.dev_server_port == 7233
    assert [p.id for p in settings.projects] == ["default"]
    assert settings.project("default").platforms == ["local"]
    assert settings.database_url.startswith("sqlite+aiosqlite:///")


def test_no_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(env=_env(tmp_path))
    assert settings.data_dir == tmp_path / "data"
    assert settings.projects[0].id == "default"


def test_wrong_type_names_key_and_file(tmp_path: Path) -> None:
    message = _error(tmp_path, "temporal:\n  dev_server_port: abc\n")
    assert "temporal.dev_server_port" in message
    assert str(tmp_path / "config.yaml") in message
    assert "'abc'" in message


def test_unknown_key(tmp_path: Path) -> None:
    message = _error(tmp_path, "temporal:\n  adress: x\n")
    assert "temporal.adress" in message and "unknown key" in message


def test_retired_llm_retry_keys_are_refused_by_name(tmp_path: Path) -> None:
    # LLM calls are retried by the step's Temporal retry policy; the gateway's own retry knobs are gone.
    message = _error(tmp_path, "llm:\n  backoff_max_s: 20\n")
    assert "llm.backoff_max_s" in message and "unknown key" in message
    message = _error(tmp_path, "llm:\n  providers:\n    - name: ollama\n      max_retries: 2\n")
    assert "llm.providers.0.max_retries" in message and "unknown key" in message


def test_missing_required(tmp_path: Path) -> None:
    message = _error(tmp_path, "projects:\n  - name: x\n")
    assert "projects.0.id" in message and "required" in message


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "temporal:\n  namespace: default\n  ui: [unclosed\n")
    assert str(tmp_path / "config.yaml") in message
    assert "line 4" in message or "line 3" in message
    assert "not valid YAML" in message


def test_top_level_list_is_rejected(tmp_path: Path) -> None:
    message = _error(tmp_path, "- a\n- b\n")
    assert "top level must be a mapping" in message and "list" in message


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, "# nothing\n"), env=_env(tmp_path))
    assert settings.temporal.dev_server_port == 7233


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", env=_env(tmp_path))


def test_env_overrides_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "temporal:\n  dev_server_port: 7000\n  namespace: from-file\n")
    settings = load_settings(path, env=_env(tmp_path, SMA_TEMPORAL__DEV_SERVER_PORT="9999"))
    assert settings.temporal.dev_server_port == 9999
    assert settings.temporal.namespace == "from-file"  # the rest of the section still comes from the file


def test_sma_config_env_selects_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "temporal:\n  namespace: picked\n", name="other.yaml")
    settings = load_settings(env=_env(tmp_path, SMA_CONFIG=str(path)))
    assert settings.temporal.namespace == "picked"


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    message = _error(tmp_path, "temporal:\n  namespace: x\n", SMA_TEMPORAL__DEV_SERVER_PORT="lots")
    assert "environment variable SMA_TEMPORAL__DEV_SERVER_PORT" in message
    assert "temporal.dev_server_port" in message


def test_real_environment_does_not_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMA_TEMPORAL__NAMESPACE", "leaked")
    settings = load_settings(env=_env(tmp_path))
    assert settings.temporal.namespace == "default"


def test_secrets_file_loads_secret_str_and_is_masked(tmp_path: Path) -> None:
    config = _write(tmp_path, "logging:\n  level: DEBUG\n")
    secrets = _write(tmp_path, "telegram_bot_token: 123456:abcdefghijklmnop\nopenai_api_key: sk-xyz123456\n",
                     name="secrets.yaml")
    settings = load_settings(config, secrets, env=_env(tmp_path))
    assert isinstance(settings.secrets.telegram_bot_token, SecretStr)
    assert settings.secrets.telegram_bot_token.get_secret_value() == "123456:abcdefghijklmnop"
    assert sorted(settings.secrets.values()) == ["123456:abcdefghijklmnop", "sk-xyz123456"]
    dumped = masked_dump(settings)
    assert dumped["secrets"]["telegram_bot_token"] == "**********"
    assert dumped["secrets"]["openai_api_key"] == "**********"
    assert "abcdefghijklmnop" not in repr(dumped) and "sk-xyz123456" not in repr(dumped)
    assert "abcdefghijklmnop" not in repr(settings)


def test_secrets_file_in_data_dir_is_found(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    _write(tmp_path, "admin_password: letmein-please\n", name="data/secrets.yaml")
    settings = load_settings(env=_env(tmp_path))
    assert settings.secrets.admin_password is not None
    assert settings.secrets.admin_password.get_secret_value() == "letmein-please"


def test_secrets_from_env(tmp_path: Path) -> None:
    settings = load_settings(env=_env(tmp_path, SMA_SECRETS__PEXELS_API_KEY="pexels-key-123"))
    assert settings.secrets.values() == ["pexels-key-123"]


def test_unknown_secret_name(tmp_path: Path) -> None:
    secrets = _write(tmp_path, "telegram_token: 123\n", name="secrets.yaml")
    with pytest.raises(ConfigError) as info:
        load_settings(secrets_path=secrets, env=_env(tmp_path))
    assert "secrets.telegram_token" in str(info.value) and str(secrets) in str(info.value)


def test_secrets_in_config_without_secrets_file(tmp_path: Path) -> None:
    message = _error(tmp_path, "secrets:\n  openai_api_key: sk-in-git-123456\n")
    assert "secrets" in message and "secrets file" in message
    assert str(tmp_path / "config.yaml") in message
    assert "sk-in-git-123456" not in message


def test_invalid_project_slug(tmp_path: Path) -> None:
    message = _error(tmp_path, "projects:\n  - id: 'has space'\n")
    assert "projects.0.id" in message and "slug" in message


def test_unknown_project_lookup() -> None:
    with pytest.raises(ConfigError, match="unknown project 'nope'"):
        Settings().project("nope")


# ---------------------------------------------------------------- edge cases: secrets and environment values


def test_invalid_secret_value_is_not_echoed(tmp_path: Path) -> None:
    secrets = _write(tmp_path, "admin_password: 12345678\n", name="secrets.yaml")
    with pytest.raises(ConfigError) as info:
        load_settings(secrets_path=secrets, env=_env(tmp_path))
    assert "secrets.admin_password" in str(info.value)
    assert "12345678" not in str(info.value)


def test_non_mapping_secrets_section_is_a_config_error(tmp_path: Path) -> None:
    config = _write(tmp_path, "secrets: oops\n")
    secrets = _write(tmp_path, "admin_password: long-enough\n", name="secrets.yaml")
    with pytest.raises(ConfigError, match="secrets"):
        load_settings(config, secrets, env=_env(tmp_path))


def test_unparsable_env_section_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SMA_TEMPORAL"):
        load_settings(env=_env(tmp_path, SMA_TEMPORAL="not json"))


def test_empty_secrets_section_with_secrets_file(tmp_path: Path) -> None:
    config = _write(tmp_path, "secrets:\n")
    secrets = _write(tmp_path, "admin_password: long-enough\n", name="secrets.yaml")
    assert load_settings(config, secrets, env=_env(tmp_path)).secrets.values() == ["long-enough"]


def test_empty_secrets_section_alone(tmp_path: Path) -> None:
    assert load_settings(_write(tmp_path, "secrets:\n"), env=_env(tmp_path)).secrets.values() == []
