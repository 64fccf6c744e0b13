"""Content-addressed artifact store: files named by their SHA-256 under the data dir.

Workflow history carries `ArtifactRef`s (path + hash), never bytes. A step that already produced its
artifact for the same inputs finds it through `lookup(key)` and is not redone on retry: the key is a hash
of the step's input model, recorded only after the file is complete, so a crash mid-write leaves nothing
that a retry could mistake for a finished result.

Every scratch and partial file lives in `tmp/` under a `<pid>-` name. A cleanup that fails (the disk
refuses writes) is not an error: the file stays there, unregistered, and the next staging call of this
process, or the sweep at worker start, removes it once the disk accepts changes again.
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
from typing import Any

from pydantic import BaseModel

from sma.models.common import ArtifactRef

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
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
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
        ref = ArtifactRef(
            path=str(target.resolve()),
            sha256=digest,
            size=target.stat().st_size,
            kind=kind,
            media_type=_MEDIA_TYPES.get(suffix, "application/octet-stream"),
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

    def lookup(self, key: str) -> ArtifactRef | None:
        """The artifact made earlier from the same inputs, if it is still intact."""
        path = self.keys / f"{key}.json"
        if not path.is_file():
            return None
        ref = ArtifactRef.model_validate_json(path.read_text())
        if not self.verify(ref):
            path.unlink(missing_ok=True)
            return None
        return ref

    def verify(self, ref: ArtifactRef) -> bool:
        target = Path(ref.path)
        return target.is_file() and target.stat().st_size == ref.size and target.name.startswith(ref.sha256)

    def read_json(self, ref: ArtifactRef) -> object:
        return json.loads(Path(ref.path).read_text())

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
