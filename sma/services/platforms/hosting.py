"""Media hosts: put the video where Instagram can fetch it (it accepts only a public URL, never bytes).

Objects are named by the video's SHA-256, so a retry re-uses the same object. Three kinds:
- `public_dir`: copy into a folder a web server already publishes under `public_base_url`;
- `s3`: any S3-compatible bucket, uploaded with a presigned PUT, fetched through a presigned GET that
  expires (the bucket stays private);
- `cloudinary`: the signed Upload API (SHA-1 of the sorted parameters plus the API secret).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Protocol

import httpx

from sma.services.platforms.base import VideoFile
from sma.services.platforms.config import CloudinaryHost, S3Host
from sma.services.platforms.errors import ReauthRequired, Rejected, RetryLater
from sma.services.platforms.http import ApiClient, Check, json_body, retry_after
from sma.services.platforms.sigv4 import presign


class MediaHost(Protocol):
    async def url_for(self, video: VideoFile) -> str:
        """A URL from which anyone can GET the video for the next hours."""
        ...


def host_check(label: str) -> Check:
    """Errors of a storage API: auth problems need the creator, 429/5xx retry, the rest fail."""

    def check(response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        if status in (401, 403):
            raise ReauthRequired(f"{label} refused the upload ({status}): check its credentials "
                                 f"(`sma credentials set PROJECT {label.lower()}`)")
        if status == 429 or status >= 500:
            raise RetryLater(f"{label} answered {status}", retry_after(response))
        raise Rejected(f"{label} rejected the upload ({status})")
    return check


class PublicDirHost:
    """Copy into a published folder; the URL is `public_base_url/<sha256>.mp4`."""

    def __init__(self, folder: Path, base_url: str) -> None:
        self.folder = Path(folder)
        self.base_url = base_url.rstrip("/")

    async def url_for(self, video: VideoFile) -> str:
        name = f"{video.sha256}.mp4"
        await asyncio.to_thread(self._copy, video.path, self.folder / name)
        return f"{self.base_url}/{name}"

    @staticmethod
    def _copy(source: Path, target: Path) -> None:
        if target.is_file() and target.stat().st_size == source.stat().st_size:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        os.replace(partial, target)


class S3MediaHost:
    def __init__(self, http: ApiClient, config: S3Host, access_key: str, secret_key: str) -> None:
        self.http = http
        self.config = config
        self.access_key = access_key
        self.secret_key = secret_key

    def _url(self, method: str, key: str, expires_s: int) -> str:
        c = self.config
        return presign(method, c.endpoint, c.bucket, key, c.region, self.access_key, self.secret_key, expires_s,
                       path_style=c.path_style)

    async def url_for(self, video: VideoFile) -> str:
        if not self.config.bucket:
            raise Rejected("publishing.media_host.s3.bucket is not set")
        key = f"{self.config.prefix}{video.sha256}.mp4"
        await self.http.request("PUT", self._url("PUT", key, 900), host_check("S3"),
                                content=video.path.read_bytes(), headers={"Content-Type": "video/mp4"})
        return self._url("GET", key, self.config.url_expiry_s)


def cloudinary_signature(params: dict[str, str], api_secret: str) -> str:
    """Cloudinary's upload signature: SHA-1 hex of 'k1=v1&k2=v2' (sorted, non-empty) + api_secret."""
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v != "")
    return hashlib.sha1((text + api_secret).encode()).hexdigest()


class CloudinaryMediaHost:
    def __init__(self, http: ApiClient, base_url: str, config: CloudinaryHost, api_key: str, api_secret: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.config = config
        self.api_key = api_key
        self.api_secret = api_secret

    async def url_for(self, video: VideoFile) -> str:
        if not self.config.cloud_name:
            raise Rejected("publishing.media_host.cloudinary.cloud_name is not set")
        params = {"public_id": video.sha256, "folder": self.config.folder, "overwrite": "false",
                  "timestamp": str(int(time.time()))}
        form = {**params, "api_key": self.api_key, "signature": cloudinary_signature(params, self.api_secret)}
        url = f"{self.base_url}/v1_1/{self.config.cloud_name}/video/upload"
        with video.path.open("rb") as fh:
            response = await self.http.request("POST", url, host_check("Cloudinary"), data=form,
                                               files={"file": (video.path.name, fh.read(), "video/mp4")})
        secure = json_body(response).get("secure_url")
        if not secure:
            raise RetryLater("Cloudinary stored the video but returned no URL")
        return str(secure)
