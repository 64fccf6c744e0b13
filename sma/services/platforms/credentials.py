"""Platform credentials, encrypted at rest with Fernet; key rotation with MultiFernet.

`secrets.fernet_key` holds one key, or several separated by commas: the first encrypts, all decrypt (so a
rotation can be interrupted at any point without losing access). Values are SecretStr in memory, so a
repr or a log line never shows them; only `reveal()` returns the plain string, at the point of use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel, Field, SecretStr
from sqlmodel import col, select

from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.db.tables_publishing import PlatformCredential
from sma.services.platforms.db import ensure_project, transaction
from sma.services.platforms.errors import NotConfigured


@dataclass(frozen=True)
class FieldSpec:
    name: str
    required: bool = True
    secret: bool = True
    help: str = ""


FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "youtube": (
        FieldSpec("client_id", secret=False, help="OAuth client id of your Google Cloud project"),
        FieldSpec("client_secret"),
        FieldSpec("refresh_token", help="from the OAuth consent flow (scopes youtube.upload, yt-analytics.readonly)"),
        FieldSpec("access_token", required=False),
        FieldSpec("expires_at", required=False, secret=False, help="ISO time or epoch seconds"),
    ),
    "facebook": (
        FieldSpec("page_id", secret=False),
        FieldSpec("page_access_token", help="a long-lived Page token with pages_manage_posts"),
    ),
    "instagram": (
        FieldSpec("ig_user_id", secret=False, help="the Instagram professional account id"),
        FieldSpec("access_token", help="token with instagram_content_publish"),
    ),
    "tiktok": (
        FieldSpec("client_key", secret=False),
        FieldSpec("client_secret"),
        FieldSpec("refresh_token"),
        FieldSpec("access_token", required=False),
        FieldSpec("expires_at", required=False, secret=False, help="ISO time or epoch seconds"),
    ),
    "telegram": (
        FieldSpec("chat_id", secret=False, help="@channelname or -100... id; the bot must be an admin there"),
        FieldSpec("bot_token", required=False, help="empty = the bot token from the secrets file"),
    ),
    "mastodon": (
        FieldSpec("instance_url", secret=False, help="e.g. https://mastodon.social"),
        FieldSpec("access_token", help="from Preferences > Development > New application (scopes read, write)"),
    ),
    "bluesky": (
        FieldSpec("handle", secret=False, help="e.g. devtools.bsky.social (or the account's DID)"),
        FieldSpec("app_password", help="Settings > Privacy and security > App passwords"),
        FieldSpec("pds_url", required=False, secret=False, help="empty = publishing.api.bluesky"),
    ),
    "x": (
        FieldSpec("client_id", secret=False, help="OAuth 2.0 client id of your X app"),
        FieldSpec("client_secret", required=False, help="confidential apps only"),
        FieldSpec("refresh_token", help="OAuth 2.0 (PKCE) with scopes tweet.write users.read media.write "
                                        "offline.access"),
        FieldSpec("access_token", required=False),
        FieldSpec("expires_at", required=False, secret=False, help="ISO time or epoch seconds"),
    ),
    "threads": (
        FieldSpec("threads_user_id", secret=False, help="the Threads user id"),
        FieldSpec("access_token", help="long-lived token with threads_basic, threads_content_publish"),
    ),
    "linkedin": (
        FieldSpec("author_urn", secret=False, help="urn:li:person:... or urn:li:organization:..."),
        FieldSpec("access_token", help="token with w_member_social (or w_organization_social)"),
    ),
    "s3": (FieldSpec("access_key_id", secret=False), FieldSpec("secret_access_key")),
    "cloudinary": (FieldSpec("api_key", secret=False), FieldSpec("api_secret")),
}


class CredentialError(Exception):
    """The credentials cannot be read or written; the message says what to do."""


class Credentials(BaseModel):
    project_id: str
    platform: str
    values: dict[str, SecretStr] = Field(default_factory=dict)
    expires_at: datetime | None = None

    def reveal(self, name: str) -> str | None:
        """The plain value of one field, or None when it is not set."""
        secret = self.values.get(name)
        value = secret.get_secret_value() if secret is not None else ""
        return value or None

    def require(self, name: str) -> str:
        value = self.reveal(name)
        if value is None:
            raise NotConfigured(f"{self.platform} credentials of project '{self.project_id}' lack '{name}': "
                                f"run `sma credentials set {self.project_id} {self.platform}`")
        return value

    def updated(self, expires_at: datetime | None = None, **values: str | None) -> Credentials:
        merged = dict(self.values)
        merged.update({k: SecretStr(v) for k, v in values.items() if v})
        return Credentials(project_id=self.project_id, platform=self.platform, values=merged,
                           expires_at=expires_at if expires_at is not None else self.expires_at)

    def _payload(self) -> bytes:
        plain = {k: v.get_secret_value() for k, v in self.values.items()}
        expires = self.expires_at.isoformat() if self.expires_at else None
        return json.dumps({"values": plain, "expires_at": expires}, sort_keys=True).encode()


def parse_time(value: str | None) -> datetime | None:
    """An ISO time or epoch seconds as an aware UTC datetime."""
    if not value:
        return None
    value = value.strip()
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CredentialError(f"expires_at: {value!r} is neither an ISO time nor epoch seconds") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def split_keys(value: str | None) -> list[str]:
    """The keys in `secrets.fernet_key` (comma separated), first = the one that encrypts."""
    return [k.strip() for k in (value or "").split(",") if k.strip()]


def multi_fernet(keys: list[str]) -> MultiFernet:
    if not keys:
        raise CredentialError("no Fernet key configured: run `sma secrets rotate` to create one")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise CredentialError("secrets.fernet_key is not a valid Fernet key (32 url-safe base64 bytes); "
                              "create one with `sma secrets rotate`") from exc


class CredentialStore:
    """Encrypted credentials per (project, platform) in `platform_credentials`."""

    def __init__(self, database: Database, keys: list[str]) -> None:
        self.database = database
        self.keys = keys
        self._fernet: MultiFernet | None = None
        self._error = "no Fernet key configured: run `sma secrets rotate` to create one"
        try:  # a bad key must not stop a worker from starting; it is reported where credentials are used
            self._fernet = multi_fernet(keys) if keys else None
        except CredentialError as exc:
            self._error = str(exc)

    @property
    def fernet(self) -> MultiFernet:
        if self._fernet is None:
            raise CredentialError(self._error)
        return self._fernet

    def _decrypt(self, row: PlatformCredential) -> Credentials:
        try:
            data = json.loads(self.fernet.decrypt(row.token.encode()))
        except InvalidToken:
            raise CredentialError(f"cannot decrypt the {row.platform} credentials of project '{row.project_id}': "
                                  "secrets.fernet_key changed without `sma secrets rotate`; restore the old key "
                                  "(as a second, comma-separated key) or set the credentials again") from None
        return Credentials(project_id=row.project_id, platform=row.platform,
                           values={k: SecretStr(v) for k, v in data.get("values", {}).items()},
                           expires_at=parse_time(data.get("expires_at")))

    async def get(self, project_id: str, platform: str) -> Credentials | None:
        async with self.database.session() as session:
            row = (await session.exec(select(PlatformCredential).where(
                PlatformCredential.project_id == project_id, PlatformCredential.platform == platform))).first()
        return self._decrypt(row) if row is not None else None

    async def put(self, creds: Credentials) -> None:
        token = self.fernet.encrypt(creds._payload()).decode()
        now = utcnow()
        async with transaction(self.database) as session:
            await ensure_project(session, creds.project_id)
            row = (await session.exec(select(PlatformCredential).where(
                PlatformCredential.project_id == creds.project_id,
                PlatformCredential.platform == creds.platform))).first()
            if row is None:
                row = PlatformCredential(project_id=creds.project_id, platform=creds.platform, token=token,
                                         created_at=now)
            row.token, row.expires_at, row.updated_at = token, creds.expires_at, now
            session.add(row)

    async def delete(self, project_id: str, platform: str) -> bool:
        async with transaction(self.database) as session:
            row = (await session.exec(select(PlatformCredential).where(
                PlatformCredential.project_id == project_id, PlatformCredential.platform == platform))).first()
            if row is None:
                return False
            await session.delete(row)
            return True

    async def rows(self, project_id: str | None = None) -> list[PlatformCredential]:
        query = select(PlatformCredential).order_by(col(PlatformCredential.project_id),
                                                    col(PlatformCredential.platform))
        if project_id is not None:
            query = query.where(PlatformCredential.project_id == project_id)
        async with self.database.session() as session:
            return list((await session.exec(query)).all())

    async def field_names(self, row: PlatformCredential) -> list[str]:
        """Which fields a stored credential has (names only, for `sma credentials list`)."""
        return sorted(self._decrypt(row).values)

    async def rotate(self, keys: list[str]) -> int:
        """Re-encrypt every row with the first of `keys` (which must include the current ones); one transaction."""
        fernet = multi_fernet(keys)
        async with transaction(self.database) as session:
            rows = list((await session.exec(select(PlatformCredential))).all())
            for row in rows:
                try:
                    row.token = fernet.rotate(row.token.encode()).decode()
                except InvalidToken:
                    raise CredentialError(f"cannot decrypt the {row.platform} credentials of project "
                                          f"'{row.project_id}' with any configured key; nothing was changed") from None
                session.add(row)
        self.keys, self._fernet = keys, fernet
        return len(rows)
