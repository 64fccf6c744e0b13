"""Artifact bytes in an S3-compatible bucket (AWS S3, MinIO, moto's server in tests).

Objects are named by content hash (`objects/<sha256><suffix>`), so an upload of bytes that are already there
is skipped and two hosts writing the same artifact write the same object. Large files go up in parts
(boto3's managed transfer) and the object carries its SHA-256 in its metadata; a download is checked against
it before it replaces anything. A multipart upload that a killed worker left unfinished costs storage until
it is aborted: `abort_stale_uploads` does that for uploads older than a configured age.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from sma.services.blobs.config import S3Settings

MIB = 1024 * 1024


class BlobMismatch(Exception):
    """Downloaded bytes do not hash to the name they were stored under: never used, never cached."""


class S3Blobs:
    def __init__(self, settings: S3Settings, access_key: str | None = None, secret_key: str | None = None,
                 client: Any = None) -> None:
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.client = client or boto3.client(
            "s3", endpoint_url=settings.endpoint_url, region_name=settings.region,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}),
        )
        part = settings.multipart_mb * MIB
        self.transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4)
        self._bucket_ready = False

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # ------------------------------------------------------------ bucket

    def ensure_bucket(self) -> None:
        """Create the bucket on first use (a fresh MinIO); an existing one is left as it is."""
        if self._bucket_ready:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _status(exc) != 404:
                raise
            self.client.create_bucket(Bucket=self.bucket)
        self._bucket_ready = True

    # ------------------------------------------------------------ objects

    def size(self, name: str) -> int | None:
        """The stored object's size, or None when there is none."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        return int(head["ContentLength"])

    def upload(self, path: Path, name: str, sha256: str, media_type: str) -> None:
        """Put a finished file under its content name; a no-op when those bytes are already there."""
        self.ensure_bucket()
        if self.size(name) == path.stat().st_size:
            return
        self.client.upload_file(str(path), self.bucket, self.key(name), Config=self.transfer,
                                ExtraArgs={"Metadata": {"sha256": sha256}, "ContentType": media_type})

    def download(self, name: str, dest: Path, sha256: str) -> None:
        """Fetch an object to `dest` and check its hash; a mismatch removes `dest` and raises."""
        self.client.download_file(self.bucket, self.key(name), str(dest), Config=self.transfer)
        if _sha256(dest) != sha256:
            dest.unlink(missing_ok=True)
            raise BlobMismatch(f"s3://{self.bucket}/{self.key(name)} does not hash to {sha256[:12]}")

    def read_range(self, name: str, start: int, end: int) -> bytes:
        """Bytes start..end (inclusive) of an object: the dashboard's player seeks without a download."""
        reply = self.client.get_object(Bucket=self.bucket, Key=self.key(name), Range=f"bytes={start}-{end}")
        return bytes(reply["Body"].read())

    def put_bytes(self, name: str, data: bytes) -> None:
        self.ensure_bucket()
        self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data)

    def get_bytes(self, name: str) -> bytes | None:
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        return bytes(reply["Body"].read())

    # ------------------------------------------------------------ housekeeping

    def abort_stale_uploads(self, older_than: timedelta, now: datetime | None = None) -> int:
        """Abort multipart uploads under our prefix started before `now - older_than`: a worker killed
        mid-upload leaves parts that are billed until someone aborts them."""
        self.ensure_bucket()
        cutoff = (now or datetime.now(UTC)) - older_than
        aborted = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] <= cutoff:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                       UploadId=upload["UploadId"])
                    aborted += 1
        return aborted


def _status(exc: ClientError) -> int:
    meta = exc.response.get("ResponseMetadata", {})
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
        return 404
    return int(meta.get("HTTPStatusCode", 0))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(MIB):
            digest.update(block)
    return digest.hexdigest()
