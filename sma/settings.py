"""Typed configuration: config/config.yaml, then a secrets file, then `SMA_` environment variables.

Later sources win. Every model forbids unknown keys, and any error is turned into a `ConfigError` whose
message names the key and the file (or environment variable) it came from, so start-up stops with a line
a person can act on instead of a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from sma.bot.config import BotSettings
from sma.dashboard.config import DashboardSettings
from sma.models.language import DEFAULT_LANGUAGE, normalize_tag
from sma.models.pipeline import Autonomy
from sma.services.articles.config import ArticleSettings
from sma.services.autonomy.config import GuardSettings
from sma.services.blobs.config import ArtifactSettings
from sma.services.intelligence.config import IntelligenceSettings
from sma.services.llm.config import LLMSettings
from sma.services.memory.config import MemorySettings
from sma.services.music.sources.config import FreesoundSettings, MusicGenSettings, SoundGenSettings
from sma.services.platforms.config import AnalyticsSettings, PublishingSettings
from sma.services.trends.config import SchedulerSettings, TrendSettings
from sma.services.voice.engines.config import EdgeSettings, ElevenLabsVoiceSettings, KokoroSettings, XTTSSettings

ENV_PREFIX = "SMA_"
ENV_DELIMITER = "__"
DEFAULT_CONFIG = Path("config/config.yaml")
DEFAULT_SECRETS = Path("config/secrets.yaml")


class ConfigError(Exception):
    """A configuration problem a person must fix; the message says which key in which file."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemporalTLS(_Section):
    """TLS (and mTLS) to a cluster at `temporal.address`; the embedded dev server never uses it."""

    enabled: bool | None = Field(None, description="empty: on when a file, server_name or "
                                                   "secrets.temporal_api_key is set")
    client_cert: Path | None = Field(None, description="PEM certificate for mTLS (with client_key)")
    client_key: Path | None = Field(None, description="PEM private key of client_cert")
    server_ca: Path | None = Field(None, description="PEM CA that signed the server's certificate; "
                                                     "empty = the system's roots")
    server_name: str | None = Field(None, description="name on the server's certificate when it differs "
                                                      "from the address's host")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TemporalTLS:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together: set both for mTLS, or neither")
        return self


class TemporalSettings(_Section):
    address: str | None = Field(None, description="host:port of an existing cluster; empty = embedded dev server")
    namespace: str = "default"
    dev_server_port: int = 7233
    ui_port: int = 8233
    ui: bool = True
    tls: TemporalTLS = Field(default_factory=TemporalTLS)


class DatabaseSettings(_Section):
    url: str | None = Field(None, description="SQLAlchemy async URL; empty = SQLite file in the data dir")


class MetricsSettings(_Section):
    """Prometheus metrics of each process (sma.metrics) and optional OpenTelemetry tracing."""

    enabled: bool = False
    host: str = Field("127.0.0.1", description="address the metrics servers bind; 0.0.0.0 in containers")
    port: int = Field(9464, description="SMA's metrics; each process role adds its offset (sma.metrics)")
    sdk_port: int = Field(9474, description="the Temporal SDK's runtime metrics, same offsets")
    tracing: bool = Field(False, description="OpenTelemetry spans for workflows and activities "
                                             "(pip install 'sma[otel]')")
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint, e.g. "
                                                        "http://otel-collector:4318/v1/traces")


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
    console: bool = True
    json_file: bool = True


Background = Literal["pexels", "procedural"]
ImageEngine = Literal["comfyui", "dalle"]
BACKGROUNDS: tuple[Background, ...] = ("pexels", "procedural")
IMAGE_CHAIN: tuple[ImageEngine, ...] = ("comfyui", "dalle")


class VisualSettings(_Section):
    """Stock backgrounds, generated images and diagrams (section `media.visuals`); each tier is best effort."""

    backgrounds: list[Background] = Field(default_factory=lambda: list(BACKGROUNDS))
    pexels_base_url: str = "https://api.pexels.com"
    pexels_queries: list[str] = Field(
        default_factory=lambda: ["abstract technology", "dark abstract background", "programming code screen",
                                 "city lights night", "neon lights bokeh"],
        description="searched when a request carries no query; one is picked per video from its seed")
    pexels_per_page: int = Field(15, ge=1, le=80)
    pexels_max_pages: int = Field(3, ge=1, le=10, description="pages searched for a clip not used recently")
    pexels_min_duration_s: float = 5.0
    freshness_videos: int = Field(30, ge=0, description="no stock clip is reused within a project's last N videos")
    stock_height: int = Field(1280, description="stock clips are cropped to 9:16 and scaled to this height once")
    stock_max_mb: float = 150.0
    http_timeout_s: float = 30.0
    image_chain: list[ImageEngine] = Field(default_factory=lambda: list(IMAGE_CHAIN))
    comfyui_url: str | None = Field(None, description="e.g. http://127.0.0.1:8188; empty = tier skipped")
    comfyui_workflow: str | None = Field(None, description="API-format workflow JSON file; empty = built-in")
    comfyui_checkpoint: str = "v1-5-pruned-emaonly.safetensors"
    comfyui_size: str = "768x768"
    comfyui_timeout_s: float = 180.0
    dalle_base_url: str | None = Field(None, description="OpenAI-compatible base URL; empty = api.openai.com")
    dalle_model: str = "dall-e-3"
    dalle_size: str = "1024x1024"
    dalle_quality: str = "standard"
    mermaid_cli: str = Field("mmdc", description="Mermaid CLI command or path; diagrams are skipped without it")
    mermaid_timeout_s: float = 60.0


class CaptionStyle(_Section):
    """How burned-in captions look (section `media.look.captions`): a preset plus optional overrides.

    Presets are in sma/services/media/look.py; a field left empty takes the preset's value.
    """

    preset: Literal["bold", "clean", "boxed", "minimal"] = "bold"
    font_size: int | None = Field(None, ge=24, le=160)
    font: str | None = Field(None, description="font family shipped in assets/fonts or installed; empty = preset")
    colour: str | None = Field(None, description="text colour, #RRGGBB")
    highlight_colour: str | None = Field(None, description="the spoken word's colour, #RRGGBB")
    highlight: Literal["colour", "pop", "box"] | None = Field(None, description="how the spoken word stands out")
    words_per_line: int | None = Field(None, ge=1, le=8)
    position: Literal["bottom", "lower_third", "middle"] | None = Field(
        None, description="always inside the platforms' safe zone")


class BrandKit(_Section):
    """A project's look on cards, covers and the watermark (section `media.look.brand`)."""

    background: str = "#111827"
    accent: str = "#FACC15"
    text: str = "#FFFFFF"
    secondary: str = "#38BDF8"
    font: str | None = Field(None, description="TTF/OTF path or a file in assets/fonts; empty = DejaVu Sans Bold")
    logo: str | None = Field(None, description="PNG watermark (transparency kept); empty = none")
    logo_corner: Literal["top_left", "top_right", "bottom_left", "bottom_right"] = "top_left"
    logo_width: int = Field(160, ge=16, le=540, description="drawn width in pixels of a 1080-wide frame")
    logo_opacity: float = Field(0.85, ge=0.0, le=1.0)
    intro: str = Field("", description="text of an intro band shown with the hook; empty = none (default)")
    intro_s: float = Field(2.0, ge=0.5, le=10.0, description="seconds the intro band stays, from the first frame")
    outro: str = Field("", description="text of an outro card over the last seconds; empty = none (default)")
    outro_s: float = Field(2.5, ge=0.5, le=10.0, description="seconds of the outro card, ending with the video")


class LookSettings(_Section):
    """Captions, brand and pacing of the visuals (section `media.look`, per project `media.project_looks`)."""

    captions: CaptionStyle = Field(default_factory=CaptionStyle)
    brand: BrandKit = Field(default_factory=BrandKit)
    change_every_s: float = Field(2.6, ge=1.0, le=10.0, description="a new visual at least this often")
    monotony_s: float = Field(6.0, ge=1.0, description="QA_VISUAL: longest stretch without a new visual")
    allow_monotony: bool = Field(False, description="autonomous runs only warn about monotony too")


class MediaSettings(_Section):
    ffmpeg: str | None = Field(None, description="path to ffmpeg; empty = the one bundled by imageio-ffmpeg")
    width: int = 1080
    height: int = 1920
    fps: int = 30
    encoder: Literal["auto", "libx264", "h264_nvenc"] = "auto"
    preset: str = "veryfast"
    crf: int = 23
    audio_bitrate: str = "160k"
    target_lufs: float = -14.0
    caption_font_size: int = 68
    font_file: str | None = None
    background_scale: int = Field(4, description="procedural background is drawn this many times smaller")
    threads: int = 0
    layout_platforms: list[str] = Field(
        default_factory=list, description="safe zones to respect when a request names none; empty = all known")
    variant_max_s: dict[str, float] = Field(default_factory=dict, description="per-platform duration caps")
    variant_lufs: dict[str, float] = Field(default_factory=dict, description="per-platform loudness targets")
    visuals: VisualSettings = Field(default_factory=VisualSettings)
    look: LookSettings = Field(default_factory=LookSettings)
    project_looks: dict[str, LookSettings] = Field(
        default_factory=dict, description="project id -> its own look, replacing `look` for that project")

    def look_for(self, project_id: str) -> LookSettings:
        return self.project_looks.get(project_id, self.look)


class TTSSettings(_Section):
    chain: list[str] = Field(
        default_factory=lambda: ["xtts", "kokoro", "elevenlabs", "edge", "piper"],
        description="engines in order; unconfigured ones are skipped with a reason; piper is always the floor",
    )
    project_chains: dict[str, list[str]] = Field(
        default_factory=dict, description="project id -> its own chain, replacing `chain` for that project"
    )
    piper_voice: str | None = Field(None, description="path to a Piper .onnx voice; empty = bundled Joe")
    piper_voices: dict[str, str] = Field(
        default_factory=dict, description="language -> Piper .onnx voice for projects in that language (es: ...)"
    )
    length_scale: float = 1.0
    # QA_TTS. 0.25, not 0.15: even with the WER normaliser, tiny.en mishears jargon on good Piper takes (max 0.18,
    # 4/90 above 0.15; bench/qa_tts_wer.py, plans/003a-voice-music.md). Lower it with a larger Whisper model.
    max_wer: float = Field(0.25, ge=0.0, le=1.0)
    min_wpm: float = 90.0
    max_wpm: float = 240.0
    max_silence_s: float = 1.5
    # Usage and cost (plans/003c-tts-usage.md): every synthesis is recorded in tts_calls with this price.
    prices_per_1k_chars: dict[str, float] = Field(
        default_factory=lambda: {"elevenlabs": 0.30, "xtts": 0.0, "kokoro": 0.0, "edge": 0.0, "piper": 0.0},
        description="USD per 1,000 characters per engine; an engine not listed costs nothing",
    )
    daily_budget_usd: float | None = Field(
        None, ge=0.0, description="per project per UTC day for priced engines; null = unlimited; free never blocked"
    )

    @field_validator("prices_per_1k_chars")
    @classmethod
    def _prices_are_not_negative(cls, prices: dict[str, float]) -> dict[str, float]:
        negative = sorted(name for name, price in prices.items() if price < 0)
        if negative:
            raise ValueError(f"a price cannot be negative: {', '.join(negative)}")
        return {name.strip().lower(): price for name, price in prices.items()}

    xtts: XTTSSettings = Field(default_factory=XTTSSettings)
    kokoro: KokoroSettings = Field(default_factory=KokoroSettings)
    elevenlabs: ElevenLabsVoiceSettings = Field(default_factory=ElevenLabsVoiceSettings)
    edge: EdgeSettings = Field(default_factory=EdgeSettings)


class MusicSettings(_Section):
    chain: list[str] = Field(
        default_factory=lambda: ["musicgen", "freesound", "elevenlabs", "loops", "procedural"],
        description="tiers in order; unconfigured ones are skipped with a reason; procedural is always the floor",
    )
    loops_dir: str | None = Field(None, description="folder of audio loops, picked by mood word in the file name")
    fade_in_s: float = 1.5
    fade_out_s: float = 2.0
    musicgen: MusicGenSettings = Field(default_factory=MusicGenSettings)
    freesound: FreesoundSettings = Field(default_factory=FreesoundSettings)
    elevenlabs: SoundGenSettings = Field(default_factory=SoundGenSettings)


class CaptionSettings(_Section):
    model: str | None = Field(None, description="faster-whisper model name or path; empty = bundled tiny.en")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "int8"
    min_coverage: float = 0.95
    language_models: dict[str, str] = Field(
        default_factory=dict,
        description="language -> multilingual faster-whisper model (name or path) for projects in that language; "
        "a language with none gets captions timed from the script and the voice",
    )


class PipelineSettings(_Section):
    words_per_minute: int = 160
    target_seconds: float = 40.0
    max_rounds: int = 5
    max_script_attempts: int = 3
    duplicate_window_h: float = Field(24.0, ge=0, description="the same topic started again in the same project "
                                      "within this many hours returns the first run (0: never)")


class ProjectSettings(_Section):
    id: str
    name: str = ""
    niche: str = ""
    audience: str = ""
    brand_voice: str = "clear, friendly, concrete"
    banned_phrases: list[str] = Field(default_factory=list)
    language: str = Field(DEFAULT_LANGUAGE, description="BCP-47 tag (en, es, pt-BR): script, voice, captions")
    autonomy: Autonomy = "manual"
    platforms: list[str] = Field(default_factory=lambda: ["local"])
    telegram_chat_id: int | None = Field(None, description="chat that gets this project's approvals")
    guards: GuardSettings = Field(default_factory=GuardSettings)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_" for c in value):
            raise ValueError("must be a non-empty slug of letters, digits, '-' or '_'")
        return value

    @field_validator("language")
    @classmethod
    def _bcp47(cls, value: str) -> str:
        return normalize_tag(value)


class Secrets(_Section):
    telegram_bot_token: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    elevenlabs_api_key: SecretStr | None = None
    pexels_api_key: SecretStr | None = None
    fernet_key: SecretStr | None = None
    callback_secret: SecretStr | None = None
    admin_password: SecretStr | None = None
    youtube_api_key: SecretStr | None = None  # trends: YouTube Data API v3 (search, most popular)
    github_token: SecretStr | None = None  # trends: optional, raises GitHub search's rate limit
    freesound_api_key: SecretStr | None = None  # music: Freesound APIv2 token (search + previews)
    temporal_api_key: SecretStr | None = None  # a cluster at temporal.address that wants an API key (Cloud)
    s3_access_key_id: SecretStr | None = None  # artifacts.backend s3; empty = the AWS default chain
    s3_secret_access_key: SecretStr | None = None

    def values(self) -> list[str]:
        """Every secret value that is set, for the log redactor."""
        return [s.get_secret_value() for s in self.__dict__.values() if isinstance(s, SecretStr)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, extra="forbid", case_sensitive=False
    )

    data_dir: Path = Path("data")
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    tts: TTSSettings = Field(default_factory=TTSSettings)
    captions: CaptionSettings = Field(default_factory=CaptionSettings)
    music: MusicSettings = Field(default_factory=MusicSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    publishing: PublishingSettings = Field(default_factory=PublishingSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    trends: TrendSettings = Field(default_factory=TrendSettings)
    articles: ArticleSettings = Field(default_factory=ArticleSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    intelligence: IntelligenceSettings = Field(default_factory=IntelligenceSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    projects: list[ProjectSettings] = Field(default_factory=lambda: [ProjectSettings(id="default")])
    secrets: Secrets = Field(default_factory=Secrets)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the files, which arrive as init arguments.
        return (env_settings, init_settings)

    # ------------------------------------------------------------ derived paths

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{(self.data_dir / 'sma.db').resolve()}"

    @property
    def temporal_address(self) -> str:
        return self.temporal.address or f"127.0.0.1:{self.temporal.dev_server_port}"

    @property
    def embedded_temporal(self) -> bool:
        return not self.temporal.address

    def project(self, project_id: str) -> ProjectSettings:
        for project in self.projects:
            if project.id == project_id:
                return project
        known = ", ".join(p.id for p in self.projects)
        raise ConfigError(f"unknown project {project_id!r}; configured projects: {known}")

    def project_language(self, project_id: str) -> str:
        """The project's language tag; a project not configured here (a test, a removed one) speaks English."""
        return next((p.language for p in self.projects if p.id == project_id), DEFAULT_LANGUAGE)


# ---------------------------------------------------------------- loading


def _read_text(path: Path) -> str:
    """The file as UTF-8 text, or a ConfigError naming the file and what is wrong with it."""
    try:
        raw = path.read_bytes()
    except PermissionError:
        raise ConfigError(f"{path}: permission denied: give this user read permission (chmod u+r {path})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}: not UTF-8 text: byte {exc.start} (0x{raw[exc.start]:02x}, line {line}) "
                          "cannot be decoded; save the file as UTF-8") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    return data


def _env_name(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + ENV_DELIMITER.join(str(p) for p in loc).upper()


def _origin(
    loc: tuple[int | str, ...], config: dict[str, Any], config_path: Path | None, secrets_path: Path | None,
    env: Mapping[str, str],
) -> str:
    for depth in range(len(loc), 0, -1):
        name = _env_name(loc[:depth])
        if name in env or name.lower() in env:
            return f"environment variable {name}"
    if loc and loc[0] == "secrets" and secrets_path is not None:
        return str(secrets_path)
    if config_path is not None:
        return str(config_path)
    return "defaults"


def _describe(
    exc: ValidationError, config: dict[str, Any], config_path: Path | None, secrets_path: Path | None,
    env: Mapping[str, str],
) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        origin = _origin(loc, config, config_path, secrets_path, env)
        if err["type"] == "extra_forbidden":
            problem = "unknown key (check the spelling; see config/config.yaml for the known keys)"
        elif err["type"] == "missing":
            problem = "required value is missing"
        elif loc and loc[0] == "secrets":
            problem = f"{err['msg']} (value hidden; quote it if it looks like a number)"
        else:
            problem = f"{err['msg']} (got {err.get('input')!r})"
        lines.append(f"{origin}: {key}: {problem}")
    if len(lines) == 1:
        return f"invalid configuration: {lines[0]}"
    return "invalid configuration:\n  " + "\n  ".join(lines)


def resolve_config_path(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        return path
    if env.get("SMA_CONFIG"):
        return resolve_config_path(env["SMA_CONFIG"], {})
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def resolve_secrets_path(explicit: str | Path | None, env: Mapping[str, str], data_dir: Path) -> Path | None:
    candidate = explicit or env.get("SMA_SECRETS_FILE")
    if candidate:
        path = Path(candidate)
        if not path.is_file():
            raise ConfigError(f"{path}: secrets file not found")
        return path
    for path in (DEFAULT_SECRETS, data_dir / "secrets.yaml"):
        if path.is_file():
            return path
    return None


def load_settings(
    config_path: str | Path | None = None,
    secrets_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Load and validate the effective settings, or raise ConfigError naming the key and its file."""
    explicit_env = env is not None
    env = dict(os.environ if env is None else env)
    cfg_path = resolve_config_path(config_path, env)
    config = _read_yaml(cfg_path) if cfg_path else {}
    for key, value in overrides.items():
        if value is not None:
            config[key] = value
    data_dir = Path(env.get("SMA_DATA_DIR") or _data_dir_value(config, cfg_path) or "data")
    sec_path = resolve_secrets_path(secrets_path, env, data_dir)
    inline = config.get("secrets") or {}
    if not isinstance(inline, dict):
        raise ConfigError(f"{cfg_path}: secrets: must be a mapping of names to values")
    written = sorted(str(name) for name, value in inline.items() if value not in (None, ""))
    if written and cfg_path is not None:
        # Secrets belong in the secrets file, never next to the config in git, even when both exist.
        raise ConfigError(f"{cfg_path}: secrets: secret values must not be in the config file; move "
                          f"{', '.join(written)} into the secrets file "
                          f"({sec_path or DEFAULT_SECRETS}) or SMA_SECRETS__<NAME> variables")
    if "secrets" in config:
        config["secrets"] = inline  # an empty `secrets:` is None in YAML
    if sec_path is not None:
        config = {**config, "secrets": {**inline, **_read_yaml(sec_path)}}
    try:
        if explicit_env:
            with _environment(env):
                return Settings(**config)
        return Settings(**config)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config, cfg_path, sec_path, env)) from None
    except SettingsError as exc:
        # Raised by the environment source, e.g. SMA_TEMPORAL='not json' for a whole section.
        field = re.search(r'field "(\w+)"', str(exc))
        name = _env_name((field.group(1),)) if field else f"{ENV_PREFIX}*"
        raise ConfigError(f"environment variable {name} (or one of {name}__*): value is not valid JSON; "
                          "lists and whole sections must be written as JSON") from None


def _data_dir_value(config: dict[str, Any], cfg_path: Path | None) -> str | Path | None:
    """`data_dir` as written, checked before it is used to find the secrets file."""
    value = config.get("data_dir")
    if value is None or isinstance(value, str | Path):
        return value
    raise ConfigError(f"{cfg_path or 'settings'}: data_dir: must be a folder path written as text, "
                      f"not a {type(value).__name__} (got {value!r})")


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """Run with exactly `env` as the process environment (tests pass their own)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, with every secret shown as '**********'."""
    data = settings.model_dump(mode="json")
    data["data_dir"] = str(settings.data_dir)
    return data
