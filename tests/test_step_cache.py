"""The typed step cache shared by voiceover, music and captions: a hit only for a whole, intact result."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from sma.models.common import ArtifactRef
from sma.services.artifacts import ArtifactStore
from sma.services.step_cache import StepCache


class Made(BaseModel):
    main: ArtifactRef | None = None
    side: ArtifactRef | None = None
    note: str = ""


def _cache(store: ArtifactStore) -> StepCache[Made]:
    return StepCache(store, Made, "demo", "1", primary=lambda r: r.main,
                     extras=lambda r: [r.side] if r.side else [])


def _made(store: ArtifactStore, text: str) -> Made:
    main = store.put_bytes(text.encode(), ".txt", kind="demo")
    side = store.put_bytes(f"{text}-side".encode(), ".txt", kind="demo")
    return Made(main=main, side=side, note=text)


def test_step_cache_returns_the_typed_result_for_the_same_inputs(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    cache = _cache(store)
    key = cache.key({"text": "hello"})
    assert key == cache.key({"text": "hello"}) != cache.key({"text": "other"})
    assert cache.get(key) is None
    made = _made(store, "hello")
    cache.put(key, made)
    found = cache.get(key)
    assert isinstance(found, Made) and found == made
    assert _cache(ArtifactStore(tmp_path)).get(key) == made  # another process finds it too


def test_step_cache_misses_when_an_extra_artifact_is_gone(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    cache = _cache(store)
    key = cache.key({"text": "hello"})
    made = _made(store, "hello")
    cache.put(key, made)
    assert made.side is not None
    Path(made.side.path).unlink()
    assert cache.get(key) is None


def test_step_cache_misses_when_the_key_points_at_another_artifact(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    cache = _cache(store)
    key = cache.key({"text": "hello"})
    cache.put(key, _made(store, "hello"))
    other = _made(store, "other")
    assert other.main is not None
    store.remember(key, other.main)  # a sidecar from an older write: never mixed with a newer artifact
    assert cache.get(key) is None


def test_step_cache_refuses_a_result_without_its_artifact(tmp_path: Path) -> None:
    cache = _cache(ArtifactStore(tmp_path))
    with pytest.raises(ValueError, match="without its artifact"):
        cache.put(cache.key({}), Made())
