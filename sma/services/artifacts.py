"""Content-addressed artifact store: files named by their SHA-256 under the data dir.

Workflow history carries `ArtifactRef`s (path + hash), never bytes. A step that already produced its
artifact for the same inputs finds it through `lookup(key)` and is not redone on retry: the key is a hash
of the step's input model, recorded only after the file is complete, so a crash mid-write leaves nothing
that a retry could mistake for a finished result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def input_key(step: str, model: BaseModel | dict, version: str = "1") -> str:
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
        """A scratch file on the store's filesystem; removed afterwards unless `put` moved it in."""
        fd, name = tempfile.mkstemp(suffix=suffix, prefix=f"{os.getpid()}-", dir=self.tmp)
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    @contextmanager
    def staging_dir(self) -> Iterator[Path]:
        path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=self.tmp))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def put(self, source: Path, kind: str = "file", key: str | None = None) -> ArtifactRef:
        """Move (or copy, across filesystems) a finished file into the store; same bytes, same path."""
        source = Path(source)
        digest = sha256_file(source)
        suffix = source.suffix.lower()
        target = self.objects / digest[:2] / f"{digest}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(source, partial)
            os.replace(partial, target)
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
        path = self.keys / f"{key}.json"
        partial = path.with_suffix(".partial")
        partial.write_text(ref.model_dump_json())
        os.replace(partial, path)

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
        """Remove scratch files left by processes that died mid-write (a kill -9 during a render)."""
        removed = 0
        for entry in self.tmp.iterdir():
            owner = entry.name.split("-", 1)[0]
            if owner.isdigit() and not _alive(int(owner)):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed += 1
        return removed

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
