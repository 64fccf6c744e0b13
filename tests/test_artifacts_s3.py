"""Artifacts in a shared S3-compatible bucket: a second host with an empty data dir gets every artifact by
content hash; large files go in parts; ranges come straight from the bucket; abandoned uploads are aborted.
All against moto's S3 server in its own process (the real wire protocol through boto3)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from sma.activities.localize import ArtifactLocalizer
from sma.models.common import ArtifactRef
from sma.services.artifacts import ArtifactStore, object_name
from sma.services.blobs.config import S3Settings
from sma.services.blobs.localize import ArtifactMissing, localize_tree
from sma.services.blobs.ranges import UnsatisfiableRange, byte_range
from sma.services.blobs.s3 import BlobMismatch, S3Blobs
from sma.services.blobs.serve import remote_response
from sma.services.blobs.store import artifact_store
from sma.settings import load_settings
from tests.s3_server import s3_server

CREDS = {"access_key": "test", "secret_key": "test"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_server() as url:
        yield url


def blobs(endpoint: str, multipart_mb: int = 16) -> S3Blobs:
    """A bucket of its own per test, created on first use like a fresh MinIO."""
    return S3Blobs(S3Settings(bucket=f"t-{uuid.uuid4().hex[:10]}", endpoint_url=endpoint,
                              multipart_mb=multipart_mb), **CREDS)


def two_hosts(tmp_path: Path, remote: S3Blobs) -> tuple[ArtifactStore, ArtifactStore]:
    return (ArtifactStore(tmp_path / "host-a" / "artifacts", remote),
            ArtifactStore(tmp_path / "host-b" / "artifacts", remote))


def test_second_host_gets_an_artifact_and_its_step_key_by_hash(endpoint: str, tmp_path: Path) -> None:
    host_a, host_b = two_hosts(tmp_path, blobs(endpoint))
    made = host_a.put_bytes(b"voice bytes" * 1000, ".wav", kind="voice", key="step-key-1")

    found = host_b.lookup("step-key-1")

    assert found is not None and found.sha256 == made.sha256
    assert Path(found.path).is_relative_to(tmp_path / "host-b")
    assert Path(found.path).read_bytes() == Path(made.path).read_bytes()


def test_large_video_goes_up_in_parts_and_comes_back_identical(endpoint: str, tmp_path: Path) -> None:
    remote = blobs(endpoint, multipart_mb=5)
    host_a, host_b = two_hosts(tmp_path, remote)
    video = tmp_path / "render.mp4"
    video.write_bytes(os.urandom(12 * 1024 * 1024))
    made = host_a.put(video, kind="video")

    head = remote.client.head_object(Bucket=remote.bucket, Key=remote.key(object_name(made.sha256, ".mp4")))
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 2 MiB
    assert head["Metadata"]["sha256"] == made.sha256
    local = host_b.localize(made)
    assert local is not None and Path(local.path).read_bytes() == video.read_bytes()


def test_same_bytes_from_two_hosts_are_one_object(endpoint: str, tmp_path: Path) -> None:
    remote = blobs(endpoint)
    host_a, host_b = two_hosts(tmp_path, remote)
    host_a.put_bytes(b"same", ".txt")
    host_b.put_bytes(b"same", ".txt")
    listed = remote.client.list_objects_v2(Bucket=remote.bucket, Prefix=remote.key("objects/"))
    assert listed["KeyCount"] == 1


def test_a_range_is_read_from_the_bucket_without_a_local_copy(endpoint: str, tmp_path: Path) -> None:
    host_a, host_b = two_hosts(tmp_path, blobs(endpoint))
    data = bytes(range(256)) * 400
    made = host_a.put_bytes(data, ".mp4", kind="video")

    assert host_b.read_range(made, 1000, 1999) == data[1000:2000]
    assert not host_b.local_path(made).exists()  # seeking did not copy the whole video


async def test_player_range_answers_206_from_the_bucket(endpoint: str, tmp_path: Path) -> None:
    host_a, host_b = two_hosts(tmp_path, blobs(endpoint))
    data = os.urandom(50_000)
    made = host_a.put_bytes(data, ".mp4", kind="video")

    partial = await remote_response(host_b, made, "bytes=100-199", "video/mp4", {})
    past_end = await remote_response(host_b, made, "bytes=60000-", "video/mp4", {})

    assert partial is not None and partial.status_code == 206
    assert partial.body == data[100:200]
    assert partial.headers["content-range"] == "bytes 100-199/50000"
    assert past_end is not None and past_end.status_code == 416


def test_byte_ranges_follow_rfc_9110() -> None:
    assert byte_range("bytes=0-99", 1000) == (0, 99)
    assert byte_range("bytes=-100", 1000) == (900, 999)
    assert byte_range("bytes=990-", 1000) == (990, 999)
    assert byte_range("bytes=0-5000", 1000) == (0, 999)
    assert byte_range(None, 1000) is None and byte_range("items=0-1", 1000) is None
    with pytest.raises(UnsatisfiableRange):
        byte_range("bytes=1000-", 1000)


def test_abandoned_multipart_uploads_are_aborted_fresh_ones_kept(endpoint: str) -> None:
    remote = blobs(endpoint)
    remote.ensure_bucket()
    for name in ("objects/old.mp4", "objects/new.mp4"):
        remote.client.create_multipart_upload(Bucket=remote.bucket, Key=remote.key(name))

    started = max(u["Initiated"] for u in remote.client.list_multipart_uploads(Bucket=remote.bucket)["Uploads"])

    assert remote.abort_stale_uploads(timedelta(hours=1), now=started + timedelta(minutes=30)) == 0
    assert remote.abort_stale_uploads(timedelta(hours=1), now=started + timedelta(hours=2)) == 2
    assert "Uploads" not in remote.client.list_multipart_uploads(Bucket=remote.bucket)


def test_bytes_that_do_not_match_their_hash_are_refused(endpoint: str, tmp_path: Path) -> None:
    remote = blobs(endpoint)
    host_a, host_b = two_hosts(tmp_path, remote)
    made = host_a.put_bytes(b"original", ".txt")
    remote.put_bytes(object_name(made.sha256, ".txt"), b"tampered")  # same size: 8 bytes

    with pytest.raises(BlobMismatch):
        host_b.localize(made)
    assert not host_b.local_path(made).exists()


class _Inner(BaseModel):
    refs: list[ArtifactRef]
    by_name: dict[str, ArtifactRef]


class _Outer(BaseModel):
    inner: _Inner
    video: ArtifactRef | None = None
    title: str = "t"


def test_every_ref_in_a_nested_input_is_localized(endpoint: str, tmp_path: Path) -> None:
    host_a, host_b = two_hosts(tmp_path, blobs(endpoint))
    a, b = host_a.put_bytes(b"a", ".png"), host_a.put_bytes(b"b", ".wav")
    given = _Outer(inner=_Inner(refs=[a], by_name={"voice": b}), video=None)

    moved = localize_tree(given, host_b)

    assert Path(moved.inner.refs[0].path).is_relative_to(tmp_path / "host-b")
    assert Path(moved.inner.by_name["voice"].path).read_bytes() == b"b"
    assert given.inner.refs[0].path == a.path  # the input model is not mutated
    Path(a.path).unlink()
    lonely = ArtifactStore(tmp_path / "host-c" / "artifacts")  # no bucket, and host A's copy is gone
    with pytest.raises(ArtifactMissing):
        localize_tree(given, lonely)


def test_settings_choose_the_bucket(tmp_path: Path, endpoint: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nartifacts:\n  backend: s3\n  s3:\n"
                      f"    bucket: from-config\n    endpoint_url: {endpoint}\n")
    settings = load_settings(config, env={"SMA_SECRETS__S3_ACCESS_KEY_ID": "test",
                                          "SMA_SECRETS__S3_SECRET_ACCESS_KEY": "test"})
    store = artifact_store(settings)
    assert store.remote is not None and store.remote.bucket == "from-config"
    ref = store.put_bytes(b"x", ".txt")
    assert store.remote.size(object_name(ref.sha256, ".txt")) == 1
    assert artifact_store(load_settings(None, env={"SMA_DATA_DIR": str(tmp_path / "d2")})).remote is None


# ---------------------------------------------------------------- on a real worker


@activity.defn(name="read_artifact")
def read_artifact(ref: ArtifactRef) -> str:
    return Path(ref.path).read_text()


@workflow.defn(name="ReadArtifactWorkflow", sandboxed=False)  # this module imports boto3
class ReadArtifactWorkflow:
    @workflow.run
    async def run(self, ref: ArtifactRef) -> str:
        return await workflow.execute_activity(read_artifact, ref, start_to_close_timeout=timedelta(seconds=30))


async def test_a_worker_on_another_host_reads_an_artifact_it_never_made(
        client: Client, endpoint: str, tmp_path: Path) -> None:
    host_a, host_b = two_hosts(tmp_path, blobs(endpoint))
    made = host_a.put_bytes(b"script text", ".txt")
    Path(made.path).unlink()  # host A is gone: only the bucket has the bytes
    queue = f"s3-{uuid.uuid4().hex[:8]}"
    from concurrent.futures import ThreadPoolExecutor

    async with Worker(client, task_queue=queue, workflows=[ReadArtifactWorkflow], activities=[read_artifact],
                      activity_executor=ThreadPoolExecutor(2), interceptors=[ArtifactLocalizer(host_b)]):
        text = await client.execute_workflow(ReadArtifactWorkflow.run, made, id=f"s3-{uuid.uuid4().hex}",
                                             task_queue=queue)
    assert text == "script text"


def test_a_step_result_made_on_one_host_is_reused_on_another(endpoint: str, tmp_path: Path) -> None:
    """The step cache checks a result's extra artifacts through the bucket, not only on this host's disk."""
    from sma.services.step_cache import StepCache

    class Made(BaseModel):
        main: ArtifactRef
        side: ArtifactRef

    host_a, host_b = two_hosts(tmp_path, blobs(endpoint))
    made = Made(main=host_a.put_bytes(b"main", ".wav"), side=host_a.put_bytes(b"side", ".json"))
    cache_a, cache_b = (StepCache(h, Made, "probe", "1", primary=lambda r: r.main, extras=lambda r: [r.side])
                        for h in (host_a, host_b))
    cache_a.put(cache_a.key({"x": 1}), made)
    Path(made.side.path).unlink()  # host A is gone: only the bucket has the side artifact

    assert cache_b.get(cache_b.key({"x": 1})) == made
