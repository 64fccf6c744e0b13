"""Trend deduplication benchmark: MinHash-LSH vs exact pairwise on synthetic titles with known duplicates.

    python bench/dedup.py                 # 1k, 10k, 50k items
    python bench/dedup.py --sizes 10000 --brute 10000

Prints, per size: seconds of LSH (the product's method), of the exact method (every pair sharing a
trigram, counted through posting lists), and of brute force (Python sets, every pair) where asked; the
ratios; and whether LSH made exactly the same merges as exact (identical partition), with pair recall.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sma.services.trends.dedup import components, exact_pairs, lsh_pairs
from sma.services.trends.text import jaccard, trigram_sets, trigrams

THRESHOLD = 0.5
_TECH = ("rust python go kotlin swift typescript javascript linux kernel compiler database postgres sqlite "
        "redis kafka docker kubernetes wasm webassembly llm gpt model agent open source release framework "
        "browser chrome firefox api cloud aws gpu cuda nvidia apple google microsoft github security bug "
        "exploit vulnerability patch performance benchmark memory async runtime editor vim emacs terminal")
TECH = _TECH.split()
PREFIXES = ("Show HN: ", "Ask HN: ", "", "", "", "")
SUFFIXES = (" - YouTube", " [video]", " (2026)", "", "", "", "")


ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "cl",
          "dr", "fl", "gr", "pl", "st", "tr", "sh", "ch", "th", "qu", "")
VOWELS = ("a", "e", "i", "o", "u", "y", "ai", "ea", "ou", "io")
CODAS = ("", "", "n", "r", "s", "t", "l", "m", "x", "ck", "ng", "st", "nd")


def _word(rng: random.Random) -> str:
    """A pronounceable pseudo-word: real-looking trigram statistics without a dictionary file."""
    return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(rng.randint(1, 3)))


def _base_title(rng: random.Random, lexicon: list[str]) -> str:
    length = rng.randint(5, 10)
    return " ".join(rng.choice(TECH) if rng.random() < 0.25 else rng.choice(lexicon) for _ in range(length))


def _variant(rng: random.Random, title: str) -> str:
    words = title.split()
    op = rng.random()
    if op < 0.25 and len(words) > 4:
        del words[rng.randrange(len(words))]
    elif op < 0.45 and len(words) > 2:
        k = rng.randrange(len(words) - 1)
        words[k], words[k + 1] = words[k + 1], words[k]
    elif op < 0.65:
        k = rng.randrange(len(words))
        w = words[k]
        if len(w) > 3:
            p = rng.randrange(len(w))
            words[k] = w[:p] + rng.choice("abcdefghijklmnopqrstuvwxyz") + w[p + 1:]
    elif op < 0.8:
        words = [w.capitalize() for w in words]
    text = " ".join(words)
    return rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)


def synthetic(n: int, seed: int = 42, duplicate_share: float = 0.3) -> tuple[list[str], list[int]]:
    """Titles and their true cluster ids: ~30% of items are variants of another item's title."""
    rng = random.Random(seed)
    lexicon = [_word(rng) for _ in range(max(5000, n))]
    titles: list[str] = []
    truth: list[int] = []
    while len(titles) < n:
        base = _base_title(rng, lexicon)
        cluster = len(titles)
        titles.append(base)
        truth.append(cluster)
        if rng.random() < duplicate_share:
            for _ in range(rng.randint(1, 4)):
                if len(titles) < n:
                    titles.append(_variant(rng, base))
                    truth.append(cluster)
    order = list(range(n))
    rng.shuffle(order)
    return [titles[i] for i in order], [truth[i] for i in order]


def brute_force(titles: list[str], threshold: float) -> list[int]:
    sets = [trigrams(t) for t in titles]
    a, b = [], []
    for i in range(len(sets)):
        si = sets[i]
        for j in range(i + 1, len(sets)):
            if jaccard(si, sets[j]) >= threshold:
                a.append(i)
                b.append(j)
    import numpy as np

    return components(len(titles), np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)).tolist()


def _pairs(labels: list[int]) -> set[tuple[int, int]]:
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    return {(x, y) for g in groups.values() for k, x in enumerate(g) for y in g[k + 1:]}


def _timed(fn, *args, repeat: int = 3):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def run(sizes: list[int], brute_max: int) -> None:
    print(f"threshold {THRESHOLD}, LSH 40 bands x 3 rows, {os.cpu_count()} cores, best of 3 (brute: 1 run)\n")
    header = (f"{'items':>7} {'lsh s':>8} {'exact s':>8} {'brute s':>8} {'exact/lsh':>9} {'brute/lsh':>9} "
              f"{'same merges':>11} {'lsh pairs':>9} {'exact pairs':>11} {'recall':>7} {'true recall':>11}")
    print(header)
    print("-" * len(header))
    for n in sizes:
        titles, truth = synthetic(n)

        def lsh(titles: list[str] = titles):  # type: ignore[no-untyped-def]
            return lsh_pairs(trigram_sets(titles), THRESHOLD)

        def exact(titles: list[str] = titles):  # type: ignore[no-untyped-def]
            return exact_pairs(trigram_sets(titles), THRESHOLD)

        lsh_s, fast = _timed(lsh)
        exact_s, ref = _timed(exact, repeat=1 if n > 20000 else 3)
        brute_s = float("nan")
        if n <= brute_max:
            start = time.perf_counter()
            brute = brute_force(titles, THRESHOLD)
            brute_s = time.perf_counter() - start
            assert brute == ref.labels.tolist(), "exact and brute force disagree"
        same = fast.labels.tolist() == ref.labels.tolist()
        fast_pairs, ref_pairs = _pairs(fast.labels.tolist()), _pairs(ref.labels.tolist())
        recall = len(fast_pairs & ref_pairs) / max(1, len(ref_pairs))
        true_pairs = _pairs(truth)
        true_recall = len(fast_pairs & true_pairs) / max(1, len(true_pairs))
        brute_col = f"{brute_s:8.2f}" if brute_s == brute_s else f"{'n/a':>8}"
        ratio = f"{brute_s / lsh_s:9.0f}" if brute_s == brute_s else f"{'n/a':>9}"
        print(f"{n:>7} {lsh_s:8.3f} {exact_s:8.3f} {brute_col} {exact_s / lsh_s:9.1f} {ratio} "
              f"{'yes' if same else 'NO':>11} {len(fast_pairs):>9} {len(ref_pairs):>11} {recall:7.4f} "
              f"{true_recall:11.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--brute", type=int, default=1000, help="run brute force up to this many items")
    args = parser.parse_args()
    run(args.sizes, args.brute)


if __name__ == "__main__":
    main()
