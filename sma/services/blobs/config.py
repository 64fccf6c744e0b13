"""Settings of the artifact storage: the local content-addressed store always, a shared bucket optionally."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class S3Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: str = Field("sma-artifacts", description="bucket for artifacts; created on first use when missing")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO: http://minio:9000); "
                                                       "empty = AWS")
    region: str = "us-east-1"
    prefix: str = Field("", description="key prefix inside the bucket, e.g. 'prod/'")
    multipart_mb: int = Field(16, ge=5, le=512, description="uploads at or above this size go in parts "
                                                            "of this size (S3's minimum part is 5 MiB)")
    abandon_after_h: float = Field(24.0, gt=0, description="unfinished multipart uploads older than this "
                                                           "are aborted at worker start")


class ArtifactSettings(BaseModel):
    """`artifacts.backend: local` keeps bytes on this host only; `s3` mirrors every artifact to a bucket so
    workers on other hosts (no shared disk) fetch what they need by content hash."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "s3"] = "local"
    s3: S3Settings = Field(default_factory=S3Settings)
