"""The Fernet key in the secrets file: create it, rotate it (re-encrypting every stored credential).

Rotation is safe to interrupt at any point: (1) the secrets file gets `new,old` (both decrypt), (2) every
credential is re-encrypted with the new key in one transaction, (3) the file gets `new` alone (unless
`keep_old`). A crash after (1) or (2) leaves a key list that still decrypts everything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.fernet import Fernet

from sma.db.engine import Database
from sma.services.platforms.credentials import CredentialError, CredentialStore, split_keys
from sma.settings import DEFAULT_SECRETS, Settings, resolve_secrets_path

ENV_KEY = "SMA_SECRETS__FERNET_KEY"


@dataclass(frozen=True)
class Rotation:
    path: Path
    created: bool
    reencrypted: int
    kept_old: int


def secrets_path(explicit: str | None, settings: Settings) -> Path:
    """The secrets file in use, or where a new one goes (config/secrets.yaml next to config/, else the data dir)."""
    found = resolve_secrets_path(explicit, os.environ, settings.data_dir)
    if found is not None:
        return found
    return DEFAULT_SECRETS if DEFAULT_SECRETS.parent.is_dir() else settings.data_dir / "secrets.yaml"


def read_secrets(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise CredentialError(f"{path}: the top level must be a mapping of secret names to values")
    return data


def write_secrets(path: Path, data: dict[str, Any]) -> None:
    """Atomic write, readable by the owner only (the file holds every secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# SMA secrets: never commit this file.\n")
        yaml.safe_dump(data, fh, sort_keys=True)
    os.replace(partial, path)
    os.chmod(path, 0o600)


async def rotate(settings: Settings, database: Database, path: Path, keep_old: bool = False) -> Rotation:
    """Create the first key, or rotate to a new one and re-encrypt every stored credential."""
    if any(k.upper() == ENV_KEY for k in os.environ):
        raise CredentialError(f"the Fernet key comes from the environment variable {ENV_KEY}; rotation writes "
                              "the secrets file, so move the key there first (or unset the variable)")
    data = read_secrets(path)
    current = split_keys(str(data.get("fernet_key") or ""))
    configured = split_keys(settings.secrets.fernet_key.get_secret_value() if settings.secrets.fernet_key else "")
    old = current or configured
    new = Fernet.generate_key().decode()
    data["fernet_key"] = ",".join([new, *old])
    write_secrets(path, data)  # step 1: both keys decrypt
    store = CredentialStore(database, [new, *old])
    count = await store.rotate([new, *old])  # step 2: everything under the new key
    if not keep_old:
        data["fernet_key"] = new
        write_secrets(path, data)  # step 3: the old keys are gone
    return Rotation(path=path, created=not old, reencrypted=count, kept_old=len(old) if keep_old else 0)
