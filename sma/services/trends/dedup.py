"""Deduplication by character-trigram Jaccard: items whose similarity reaches the threshold are merged,
transitively (connected components), so one topic seen by several sources becomes one item.

Two methods that must agree:
- `exact`: every pair that shares at least one trigram gets its exact Jaccard (inverted-index counting;
  pairs sharing none have Jaccard 0), so nothing is missed. O(sum of posting-list sizes squared).
- `lsh`: MinHash signatures (NumPy), banded LSH to find candidate pairs, and the exact Jaccard of each
  candidate to confirm it. Fast; may in principle miss a pair near the threshold, which is why the
  benchmark compares its merges with `exact` on a set with known duplicate clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sma.services.trends.text import TrigramSets, trigram_sets, unique_sorted

_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class DedupResult:
    labels: np.ndarray  # cluster id of each item: the smallest item index in its cluster
    pairs: int  # pairs at or above the threshold
    candidates: int  # pairs whose exact Jaccard was computed

    def clusters(self) -> list[list[int]]:
        """Clusters of more than one item, each sorted, in order of their first item."""
        groups: dict[int, list[int]] = {}
        for index, label in enumerate(self.labels.tolist()):
            groups.setdefault(label, []).append(index)
        return [g for _, g in sorted(groups.items()) if len(g) > 1]


def deduplicate(texts: list[str], threshold: float, method: str = "lsh", bands: int = 40, rows: int = 3,
                seed: int = 7) -> DedupResult:
    sets = trigram_sets(texts)
    if method == "exact":
        return exact_pairs(sets, threshold)
    return lsh_pairs(sets, threshold, bands=bands, rows=rows, seed=seed)


# ---------------------------------------------------------------- exact


def exact_pairs(sets: TrigramSets, threshold: float) -> DedupResult:
    """All pairs, exactly: for each item, count shared trigrams with every later item via posting lists."""
    n = sets.n
    order = np.argsort(sets.tokens, kind="stable")
    postings_items = sets.items[order]
    token_sorted = sets.tokens[order]
    token_start = np.searchsorted(token_sorted, np.arange(sets.vocabulary))
    token_end = np.searchsorted(token_sorted, np.arange(sets.vocabulary), side="right")
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    candidates = 0
    for i in range(n):
        size = sets.sizes[i]
        if size == 0:
            continue
        toks = sets.tokens[sets.starts[i]:sets.starts[i] + size]
        spans = [postings_items[token_start[t]:token_end[t]] for t in toks.tolist()]
        others = np.concatenate(spans)
        others = others[others > i]
        if len(others) == 0:
            continue
        shared = np.bincount(others - i, minlength=1)
        js = np.nonzero(shared)[0]
        inter = shared[js]
        candidates += len(js)
        union = size + sets.sizes[js + i] - inter
        keep = inter >= threshold * union
        left.append(np.full(int(keep.sum()), i, dtype=np.int64))
        right.append(js[keep] + i)
    a = np.concatenate(left) if left else np.zeros(0, dtype=np.int64)
    b = np.concatenate(right) if right else np.zeros(0, dtype=np.int64)
    return DedupResult(components(n, a, b), len(a), candidates)


# ---------------------------------------------------------------- MinHash-LSH


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a strong 64-bit mixer (plain multiply-shift hashes make correlated minima)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def signatures(sets: TrigramSets, permutations: int, seed: int) -> np.ndarray:
    """MinHash signatures (n x permutations, uint32): per permutation, hash the vocabulary once, then take
    each item's minimum with one gather and one `minimum.reduceat` over the item-grouped tokens."""
    salts = mix64(np.arange(permutations, dtype=np.uint64) + np.uint64(seed) * np.uint64(1_000_003))
    signature = np.full((sets.n, permutations), np.iinfo(np.uint32).max, dtype=np.uint32)
    present = sets.sizes > 0
    if not present.any():
        return signature
    starts = sets.starts[present]
    base = mix64(sets.values)
    for k in range(permutations):
        hashed = (mix64(base ^ salts[k]) >> np.uint64(32)).astype(np.uint32)
        signature[present, k] = np.minimum.reduceat(hashed[sets.tokens], starts)
    return signature


def lsh_pairs(sets: TrigramSets, threshold: float, bands: int = 40, rows: int = 3, seed: int = 7,
              margin: float = 0.2) -> DedupResult:
    """Candidates from banded MinHash, screened by signature agreement (estimated Jaccard at least
    `threshold - margin`, about four standard deviations below), each survivor confirmed exactly."""
    n = sets.n
    signature = signatures(sets, bands * rows, seed)
    empty = sets.sizes == 0
    left, right = [], []
    for band in range(bands):
        block = signature[:, band * rows:(band + 1) * rows].astype(np.uint64)
        key = np.zeros(n, dtype=np.uint64)
        for column in range(rows):
            key = (key ^ block[:, column]) * _MIX
        key[empty] = np.arange(int(empty.sum()), dtype=np.uint64) | np.uint64(1 << 63)  # never collide
        a, b = bucket_pairs(key)
        left.append(a)
        right.append(b)
    a = np.concatenate(left) if left else np.zeros(0, dtype=np.int64)
    b = np.concatenate(right) if right else np.zeros(0, dtype=np.int64)
    if len(a):
        unique = unique_sorted(a * n + b)
        a, b = unique // n, unique % n
    candidates = len(a)
    likely = estimated_jaccard(signature, a, b) >= threshold - margin
    a, b = a[likely], b[likely]
    inter = intersections(sets, a, b)
    union = sets.sizes[a] + sets.sizes[b] - inter
    keep = inter >= threshold * np.maximum(union, 1)
    return DedupResult(components(n, a[keep], b[keep]), int(keep.sum()), candidates)


def bucket_pairs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of items with the same key, generated without a Python loop over buckets."""
    n = len(key)
    if n < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    boundary = np.empty(n, dtype=bool)
    boundary[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=boundary[1:])
    run_start = np.flatnonzero(boundary)
    run_end = np.append(run_start[1:], n)
    end_of = np.repeat(run_end, run_end - run_start)  # end of the run each sorted position is in
    follow = end_of - np.arange(n) - 1  # how many later items share the key
    total = int(follow.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first = np.repeat(np.arange(n), follow)
    second = first + 1 + (np.arange(total) - np.repeat(np.cumsum(follow) - follow, follow))
    i, j = order[first], order[second]
    return np.minimum(i, j).astype(np.int64), np.maximum(i, j).astype(np.int64)


def estimated_jaccard(signature: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Share of MinHash positions on which each pair agrees (a Jaccard estimate). Only the low byte of
    each minimum is compared: 4x less memory traffic, and a 1/256 chance of a false agreement that can
    only let more pairs through to the exact check, never fewer."""
    low = signature.astype(np.uint8)
    out = np.empty(len(a), dtype=np.float32)
    for lo in range(0, len(a), chunk):
        hi = lo + chunk
        out[lo:hi] = np.count_nonzero(low[a[lo:hi]] == low[b[lo:hi]], axis=1) / signature.shape[1]
    return out


def intersections(sets: TrigramSets, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|A ∩ B| for many pairs: the smaller set's tokens looked up in the other's by binary search."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.int64)
    swap = sets.sizes[a] > sets.sizes[b]
    small, large = np.where(swap, b, a), np.where(swap, a, b)
    lengths = sets.sizes[small]
    total = int(lengths.sum())
    pair_of = np.repeat(np.arange(len(a)), lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    tokens = sets.tokens[np.repeat(sets.starts[small], lengths) + offsets]
    keys = sets.keys()
    query = np.repeat(large, lengths) * sets.vocabulary + tokens
    found = np.searchsorted(keys, query)
    hit = keys[np.minimum(found, len(keys) - 1)] == query
    return np.bincount(pair_of, weights=hit, minlength=len(a)).astype(np.int64)


# ---------------------------------------------------------------- components


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the merge graph; each item labelled with its component's smallest index."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    return np.array([find(x) for x in range(n)], dtype=np.int64)
