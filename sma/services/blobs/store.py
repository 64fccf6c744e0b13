"""The artifact store a process uses, as configured: local only, or local as the cache of a shared bucket."""

from __future__ import annotations

from datetime import timedelta

from sma.services.artifacts import ArtifactStore
from sma.services.blobs.s3 import S3Blobs
from sma.settings import Settings


def artifact_store(settings: Settings) -> ArtifactStore:
    """Every process (workers, bot, dashboard, API) builds its store here, so all agree on the bucket."""
    return ArtifactStore(settings.data_dir / "artifacts", remote=remote_blobs(settings))


def remote_blobs(settings: Settings) -> S3Blobs | None:
    if settings.artifacts.backend != "s3":
        return None
    key, secret = settings.secrets.s3_access_key_id, settings.secrets.s3_secret_access_key
    return S3Blobs(settings.artifacts.s3, access_key=key.get_secret_value() if key else None,
                   secret_key=secret.get_secret_value() if secret else None)


def sweep(store: ArtifactStore, settings: Settings) -> None:
    """Worker start: scratch files of dead processes, and multipart uploads a killed worker left open."""
    store.sweep_stale()
    if store.remote is not None:
        store.remote.abort_stale_uploads(timedelta(hours=settings.artifacts.s3.abandon_after_h))
