"""Content-addressed artifact store: files named by their SHA-256 under the data dir.

Workflow history carries `ArtifactRef`s (path + hash), never bytes. A step that already produced its
artifact for the same inputs finds it through `lookup(key)` and is not redone on retry: the key is a hash
of the step's input model, recorded only after the file is complete, so a crash mid-write leaves nothing
that a retry could mistake for a finished result.

Every scratch and partial file lives in `tmp/` under a `<pid>-` name. A cleanup that fails (the disk
refuses writes) is not an error: the file stays there, unregistered, and the next staging call of this
process, or the sweep at worker start, removes it once the disk accepts changes again.

With a shared bucket (`artifacts.backend: s3`) this store is the host's cache of it: every finished object
and every remembered step key is also written to the bucket, and `localize` fetches an artifact made on
another host by its content hash into the same local layout. A ref's `path` names a file on the host that
made it; `localize` answers with this host's path for the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from sma.models.common import ArtifactRef

if TYPE_CHECKING:
    from sma.services.blobs.s3 import S3Blobs

_MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".ass": "text/x-ssa",
    ".json": "application/json",
    ".png": "image/png",
    ".txt": "text/plain",
}


# Scratch paths in use by this process (all stores share it: several pools may run in one process).
_LIVE: set[Path] = set()
_LIVE_LOCK = threading.Lock()


def _scratch(folder: Path, suffix: str, directory: bool = False) -> Path:
    """A new `<pid>-` scratch file (0644, like any other artifact) or folder, registered as live before a
    concurrent sweep of this process could see it."""
    with _LIVE_LOCK:
        if directory:
            path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=folder))
        else:
            fd, name = tempfile.mkstemp(suffix=suffix, prefix=f"{os.getpid()}-", dir=folder)
            os.fchmod(fd, 0o644)
            os.close(fd)
            path = Path(name)
        _LIVE.add(path)
    return path


def _release(path: Path) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(path)


def _remove(path: Path) -> bool:
    """Remove a scratch file or folder; False (and no exception) when the filesystem refuses."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        return False
    return True


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def input_key(step: str, model: BaseModel | dict[str, Any], version: str = "1") -> str:
    """Stable hash of a step's inputs: same inputs, same key, same artifact."""
    payload = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    blob = json.dumps({"step": step, "v": version, "in": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class ArtifactStore:
    def __init__(self, root: Path, remote: S3Blobs | None = None) -> None:
        self.root = Path(root)
        self.remote = remote
        self.objects = self.root / "objects"
        self.keys = self.root / "keys"
        self.tmp = self.root / "tmp"
        for folder in (self.objects, self.keys, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------ writing

    @contextmanager
    def staging(self, suffix: str) -> Iterator[Path]:
        """A scratch file on the store's filesystem; removed afterwards (now, or by the next sweep)."""
        self.sweep_own()
        path = _scratch(self.tmp, suffix)
        try:
            yield path
        finally:
            _remove(path)
            _release(path)

    @contextmanager
    def staging_dir(self) -> Iterator[Path]:
        self.sweep_own()
        path = _scratch(self.tmp, "", directory=True)
        try:
            yield path
        finally:
            _remove(path)
            _release(path)

    def _replace_from_tmp(self, target: Path, write: Callable[[Path], object]) -> None:
        """Write a file under a scratch name in tmp/, then rename it into place: a failed write leaves no
        partial file beside the finished ones, and its scratch copy is removed (now or by the sweep)."""
        partial = _scratch(self.tmp, ".partial")
        try:
            write(partial)
            os.replace(partial, target)
        finally:
            _remove(partial)
            _release(partial)

    def put(self, source: Path, kind: str = "file", key: str | None = None) -> ArtifactRef:
        """Move (or copy, across filesystems) a finished file into the store; same bytes, same path."""
        source = Path(source)
        digest = sha256_file(source)
        suffix = source.suffix.lower()
        target = self.objects / digest[:2] / f"{digest}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            self._replace_from_tmp(target, lambda partial: shutil.copyfile(source, partial))
        media_type = _MEDIA_TYPES.get(suffix, "application/octet-stream")
        if self.remote is not None:
            self.remote.upload(target, object_name(digest, suffix), digest, media_type)
        ref = ArtifactRef(
            path=str(target.resolve()),
            sha256=digest,
            size=target.stat().st_size,
            kind=kind,
            media_type=media_type,
        )
        if key is not None:
            self.remember(key, ref)
        return ref

    def put_bytes(self, data: bytes, suffix: str, kind: str = "file", key: str | None = None) -> ArtifactRef:
        with self.staging(suffix) as path:
            path.write_bytes(data)
            return self.put(path, kind=kind, key=key)

    def put_json(self, data: object, kind: str = "json", key: str | None = None) -> ArtifactRef:
        blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return self.put_bytes(blob, ".json", kind=kind, key=key)

    # ------------------------------------------------------------ idempotency by input hash

    def remember(self, key: str, ref: ArtifactRef) -> None:
        blob = ref.model_dump_json()
        self._replace_from_tmp(self.keys / f"{key}.json", lambda partial: partial.write_text(blob))
        if self.remote is not None:
            self.remote.put_bytes(f"keys/{key}.json", blob.encode())

    def lookup(self, key: str) -> ArtifactRef | None:
        """The artifact made earlier from the same inputs (on any host sharing the bucket), if intact."""
        path = self.keys / f"{key}.json"
        if path.is_file():
            blob: str | None = path.read_text()
        elif self.remote is not None:
            data = self.remote.get_bytes(f"keys/{key}.json")
            blob = data.decode() if data is not None else None
        else:
            blob = None
        if blob is None:
            return None
        ref = self.localize(ArtifactRef.model_validate_json(blob))
        if ref is None:
            path.unlink(missing_ok=True)
        return ref

    def local_path(self, ref: ArtifactRef) -> Path:
        """Where this host keeps (or would keep) the bytes of `ref`."""
        return self.objects / ref.sha256[:2] / f"{ref.sha256}{Path(ref.path).suffix.lower()}"

    def localize(self, ref: ArtifactRef) -> ArtifactRef | None:
        """`ref` with a path on this host: this store's copy, else the bucket's bytes fetched into it, else
        the recorded path; None when the bytes are nowhere (deleted, or made on a host with no bucket)."""
        target = self.local_path(ref)
        if not _intact(target, ref):
            remote, name = self.remote, object_name(ref.sha256, target.suffix)
            if remote is None or remote.size(name) != ref.size:
                return ref if _intact(Path(ref.path), ref) else None
            target.parent.mkdir(parents=True, exist_ok=True)
            self._replace_from_tmp(target, lambda partial: remote.download(name, partial, ref.sha256))
        return ref.model_copy(update={"path": str(target.resolve())})

    def read_json(self, ref: ArtifactRef) -> object:
        local = self.localize(ref)
        if local is None:
            raise FileNotFoundError(f"artifact {ref.sha256[:12]} is not on this host or in the bucket")
        return json.loads(Path(local.path).read_text())

    def read_range(self, ref: ArtifactRef, start: int, end: int) -> bytes:
        """Bytes start..end (inclusive) of an artifact: from this store, else straight from the bucket (no
        copy of the whole file), else from the recorded path."""
        target = self.local_path(ref)
        if self.remote is not None and not _intact(target, ref):
            return self.remote.read_range(object_name(ref.sha256, target.suffix), start, end)
        for path in (target, Path(ref.path)):
            if _intact(path, ref):
                with path.open("rb") as fh:
                    fh.seek(start)
                    return fh.read(end - start + 1)
        raise FileNotFoundError(f"artifact {ref.sha256[:12]} is not on this host")

    def sweep_stale(self) -> int:
        """Remove scratch files left by processes that died mid-write (a kill -9 during a render), and this
        process's own leftovers whose cleanup the filesystem refused earlier; also old-style partials."""
        removed = 0
        for entry in self._entries(self.tmp):
            owner = entry.name.split("-", 1)[0]
            if owner.isdigit() and (not _alive(int(owner)) or self._orphan(entry, int(owner))):
                removed += _remove(entry)
        for folder in (self.keys, *self._entries(self.objects)):
            for entry in self._entries(folder):
                if entry.name.endswith(".partial"):
                    removed += _remove(entry)
        return removed

    def sweep_own(self) -> int:
        """This process's leftovers in tmp/ (a failed attempt's scratch files): cheap, done per staging."""
        pid, removed = os.getpid(), 0
        for entry in self._entries(self.tmp):
            if entry.name.startswith(f"{pid}-") and self._orphan(entry, pid):
                removed += _remove(entry)
        return removed

    @staticmethod
    def _orphan(entry: Path, owner: int) -> bool:
        if owner != os.getpid():
            return False
        with _LIVE_LOCK:
            return entry not in _LIVE

    @staticmethod
    def _entries(folder: Path) -> list[Path]:
        try:
            return list(folder.iterdir()) if folder.is_dir() else []
        except OSError:
            return []

    def count(self) -> int:
        return sum(1 for p in self.objects.rglob("*") if p.is_file() and not p.name.endswith(".partial"))


def object_name(sha256: str, suffix: str) -> str:
    """An artifact's name in the bucket: its content hash, so equal bytes share one object."""
    return f"objects/{sha256}{suffix.lower()}"


def _intact(path: Path, ref: ArtifactRef) -> bool:
    try:
        return path.is_file() and path.stat().st_size == ref.size and path.name.startswith(ref.sha256)
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
