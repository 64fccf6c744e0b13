"""A step's finished result, found again by the hash of its inputs: one typed cache for every media step.

A step that made an artifact (voiceover audio, music, captions) keeps two entries in the artifact store
under its input key: the artifact itself (`key`) and a JSON sidecar with the whole result model
(`<step>-result` of `key`). `get` answers the result only when both are there, the sidecar names the same
artifact the key does, and every other artifact the result refers to is still intact; anything less is a
miss and the step runs again. `put` writes the sidecar first and the key last, so a crash in between
leaves a miss, never a half result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from sma.models.common import ArtifactRef
from sma.services.artifacts import ArtifactStore, input_key

T = TypeVar("T", bound=BaseModel)


class StepCache(Generic[T]):
    """`StepCache(store, VoiceResult, "voiceover", "2", primary=lambda r: r.audio)`.

    `primary` picks the artifact the key points at; `extras` the other artifacts the result needs
    (captions keep their word timings beside the ASS file)."""

    def __init__(
        self,
        store: ArtifactStore,
        model: type[T],
        step: str,
        version: str,
        primary: Callable[[T], ArtifactRef | None],
        extras: Callable[[T], Iterable[ArtifactRef]] = lambda _: (),
    ) -> None:
        self.store = store
        self.model = model
        self.step = step
        self.version = version
        self.primary = primary
        self.extras = extras

    def key(self, inputs: BaseModel | dict[str, Any]) -> str:
        """The input key of one call of the step: same inputs, same key."""
        return input_key(self.step, inputs, version=self.version)

    def _meta_key(self, key: str) -> str:
        return input_key(f"{self.step}-result", {"key": key}, version=self.version)

    def get(self, key: str) -> T | None:
        """The result stored for `key`, or None when it is missing, stale or incomplete."""
        artifact = self.store.lookup(key)
        meta = self.store.lookup(self._meta_key(key)) if artifact is not None else None
        if artifact is None or meta is None:
            return None
        result = self.model.model_validate(self.store.read_json(meta))
        primary = self.primary(result)
        if primary is None or primary.sha256 != artifact.sha256:
            return None
        return result if all(self.store.localize(ref) is not None for ref in self.extras(result)) else None

    def put(self, key: str, result: T) -> None:
        primary = self.primary(result)
        if primary is None:
            raise ValueError(f"{self.step}: a result without its artifact cannot be cached")
        self.store.put_json(result.model_dump(mode="json"), kind=f"{self.step}-result", key=self._meta_key(key))
        self.store.remember(key, primary)
