"""Alias of bench/dedup.py (the issue names this file): trend deduplication, LSH vs exact pairwise."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup import main

if __name__ == "__main__":
    main()
