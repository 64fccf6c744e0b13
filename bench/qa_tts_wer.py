"""Measure QA_TTS's word error rate on good and bad Piper takes, with the old and the new normalizer.

    python bench/qa_tts_wer.py [--takes 1] [--fresh] [--out bench/out/qa_tts_wer] [--limit N]

The gate's threshold (`tts.max_wer`) must pass good takes and fail bad ones, so this synthesises the
narrations in bench/fixtures/qa_tts_narrations.json with the product's Piper voice, transcribes them with
the gate's recogniser (captions.Transcriber: the bundled Whisper tiny.en, greedy, as QA_TTS runs it), and
prints the WER distribution for:

- good takes: each narration judged against its own script;
- other script: a good take judged against a different narration of similar length (wrong text spoken);
- 25% swapped: Piper speaking the script with a quarter of its words replaced by words from another
  narration, judged against the original script.

Each column is one way of normalising the text: `basic` is the old lowercase-and-strip-punctuation
normaliser, `new` is qa.audio.word_error_rate (qa.normalize + compound matching), and `whisper-norm` is
the whisper-normalizer package's EnglishTextNormalizer when it is importable (reference only).

Transcripts are cached in --out by the spoken text, so a rerun only recomputes the numbers (Piper takes
vary between runs; --fresh synthesises and transcribes again).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sma.services.qa.audio import _edit_distance, normalize_words, word_error_rate
from sma.services.speech.whisper import Transcriber
from sma.services.voice.engines.piper import PiperEngine
from sma.settings import CaptionSettings

FIXTURE = Path(__file__).with_name("fixtures") / "qa_tts_narrations.json"
SWAP_FRACTION = 0.25
THRESHOLDS = (0.15, 0.20, 0.25)
Scorer = Callable[[str, str], float]


def basic_wer(reference: str, hypothesis: str) -> float:
    """The gate before qa.normalize: lowercase, punctuation stripped, plain word edit distance."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    return _edit_distance(ref, hyp) / len(ref) if ref else float(bool(hyp))


def whisper_normalizer_wer() -> Scorer | None:
    """The whisper-normalizer package (OpenAI's EnglishTextNormalizer) with plain edit distance, if installed."""
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError:
        return None
    norm = EnglishTextNormalizer()

    def score(reference: str, hypothesis: str) -> float:
        ref, hyp = norm(reference).split(), norm(hypothesis).split()
        return _edit_distance(ref, hyp) / len(ref) if ref else float(bool(hyp))

    return score


def swapped(text: str, donor: str, seed: int) -> str:
    """`text` with SWAP_FRACTION of its words replaced by words of `donor` (punctuation kept in place)."""
    rng = random.Random(seed)
    words = text.split()
    pool = [w.strip(".,;:!?'\"()") for w in donor.split()]
    pool = [w for w in pool if w.isalpha() and len(w) > 2]
    for i in rng.sample(range(len(words)), round(len(words) * SWAP_FRACTION)):
        tail = words[i][len(words[i].rstrip(".,;:!?")):]
        words[i] = rng.choice(pool) + tail
    return " ".join(words)


class Takes:
    """Piper speaks, tiny.en listens; transcripts are cached by the spoken text and the take number."""

    def __init__(self, out: Path, fresh: bool) -> None:
        self.cache_path = out / "transcripts.json"
        self.cache: dict[str, str] = {} if fresh or not self.cache_path.exists() else json.loads(
            self.cache_path.read_text())
        self.piper = PiperEngine()
        self.whisper = Transcriber(CaptionSettings())
        self.spent_s = 0.0
        self.made = 0

    def transcript(self, text: str, take: int = 0) -> str:
        key = hashlib.sha256(f"{take}\n{self.piper.voice_path.name}\n{self.whisper.tier}\n{text}".encode()).hexdigest()
        if key not in self.cache:
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                wav = Path(tmp) / "take.wav"
                self.piper.synthesize(text, wav)
                self.cache[key] = " ".join(w.text for w in self.whisper.words(wav))
            self.spent_s += time.perf_counter() - started
            self.made += 1
            self.cache_path.write_text(json.dumps(self.cache, indent=1))
        return self.cache[key]


def nearest_in_length(texts: list[str], i: int) -> int:
    """The other narration closest in word count: wrong words, but a take of the right length."""
    n = len(texts[i].split())
    return min((j for j in range(len(texts)) if j != i), key=lambda j: (abs(len(texts[j].split()) - n), j))


def distribution(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (f"n={len(ordered):>3}  min {ordered[0]:.3f}  median {statistics.median(ordered):.3f}  "
            f"p90 {p90:.3f}  max {ordered[-1]:.3f}")


def verdicts(wer: dict[str, list[float]], limit: float) -> str:
    """At `limit`: the good takes that would fail (false alarms) and the bad ones that would pass (misses)."""
    good = sum(w > limit for w in wer["good"])
    bad = [w for kind, values in wer.items() if kind != "good" for w in values]
    return f"{limit:.2f}: {good}/{len(wer['good'])} good fail, {sum(w <= limit for w in bad)}/{len(bad)} bad pass"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=1, help="Piper takes per good narration (they vary)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N narrations")
    parser.add_argument("--fresh", action="store_true", help="ignore cached transcripts")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("out") / "qa_tts_wer")
    parser.add_argument("--worst", type=int, default=5, help="print the N worst good takes under `new`")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    texts: list[str] = json.loads(FIXTURE.read_text())["narrations"]
    if args.limit:
        texts = texts[: args.limit]
    takes = Takes(args.out, args.fresh)
    scorers: dict[str, Scorer] = {"basic": basic_wer, "new": word_error_rate}
    if (standard := whisper_normalizer_wer()) is not None:
        scorers["whisper-norm"] = standard

    pairs: dict[str, list[tuple[str, str]]] = {"good": [], "other script": [], "25% swapped": []}
    for i, text in enumerate(texts):
        for take in range(args.takes):
            pairs["good"].append((text, takes.transcript(text, take)))
        pairs["other script"].append((text, takes.transcript(texts[nearest_in_length(texts, i)])))
        donor = texts[(i + len(texts) // 2) % len(texts)]
        pairs["25% swapped"].append((text, takes.transcript(swapped(text, donor, seed=i))))

    print(f"{len(texts)} narrations ({min(len(t.split()) for t in texts)}-{max(len(t.split()) for t in texts)} "
          f"words), {takes.made} new takes in {takes.spent_s:.1f} s (Piper + {takes.whisper.tier})")
    results: dict[str, dict[str, list[float]]] = {}
    for name, scorer in scorers.items():
        print(f"\n[{name}]")
        results[name] = {}
        for kind, rows in pairs.items():
            results[name][kind] = [scorer(ref, hyp) for ref, hyp in rows]
            print(f"  {kind:<13} {distribution(results[name][kind])}")
        print(f"  {'threshold':<13} " + "  ".join(verdicts(results[name], limit) for limit in THRESHOLDS))
    good_new = results["new"]["good"]
    print("\nworst good takes under `new` (basic -> new):")
    for k in sorted(range(len(good_new)), key=lambda k: -good_new[k])[: args.worst]:
        ref, hyp = pairs["good"][k]
        print(f"  {results['basic']['good'][k]:.3f} -> {good_new[k]:.3f}\n    script: {ref}\n    heard:  {hyp}")
    (args.out / "results.json").write_text(json.dumps({"pairs": pairs, "wer": results}, indent=1))


if __name__ == "__main__":
    main()
