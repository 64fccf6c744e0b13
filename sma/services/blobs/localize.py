"""Make every artifact an input model names present on this host before the step that reads it runs.

Workflow history carries `ArtifactRef`s whose `path` is valid on the host that made them. With a shared
bucket the next step may run elsewhere, so each ref found in the input (at any depth: models, lists, dicts,
tuples) is swapped for this host's copy, fetched by content hash. Models are copied, never mutated.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sma.models.common import ArtifactRef
from sma.services.artifacts import ArtifactStore


class ArtifactMissing(Exception):
    """A step's input names bytes that are on no host and not in the bucket: retrying will not help."""


def localize_tree(value: Any, store: ArtifactStore) -> Any:
    """`value` with every `ArtifactRef` in it pointing at a file on this host (same object when none moved)."""
    if isinstance(value, ArtifactRef):
        local = store.localize(value)
        if local is None:
            raise ArtifactMissing(f"artifact {value.sha256[:12]} ({value.kind}) is neither on this host nor "
                                  "in the shared bucket; was it made on a host without artifacts.backend s3?")
        return local
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            current = getattr(value, name)
            moved = localize_tree(current, store)
            if moved is not current:
                changes[name] = moved
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, list | tuple):
        items = [localize_tree(item, store) for item in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        moved_dict = {key: localize_tree(item, store) for key, item in value.items()}
        return value if all(moved_dict[k] is value[k] for k in value) else moved_dict
    return value
