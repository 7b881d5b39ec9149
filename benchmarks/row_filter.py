"""``--only``: which rows a benchmark times, so that a sweep of builds (sweep.py) times only the rows
a compile-time switch can change and fits more builds into one GPU call.

A filter is a comma-separated list of patterns; a pattern is space-separated words. A row is
timed when every word of at least one pattern starts a word of its label, ``"op shape dtype
layout"`` (so ``float16`` is not ``bfloat16``), or is one when it ends in ``$`` (``float32$`` is
not ``float32+tf32``). ``"ps_roi float16,roi_align NHWC sr=0"`` times
PS-RoIAlign and PS-RoIPool in float16 and channels-last RoIAlign with adaptive sampling in every
dtype. No filter times every row.
"""

from __future__ import annotations

import argparse
from typing import List, Optional

ONLY_HELP = ("time only rows whose 'op shape dtype layout' label holds every word of one of these "
             "comma-separated patterns (e.g. 'nms n=5000,batched_nms float16')")


def add_only_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", default=None, metavar="PATTERNS", help=ONLY_HELP)


def parse_patterns(only: Optional[str]) -> List[List[str]]:
    """The patterns of an ``--only`` value, each a list of words; [] for no filter."""
    if only is None:
        return []
    patterns = [pattern.split() for pattern in only.split(",")]
    patterns = [words for words in patterns if words]
    if not patterns:
        raise ValueError(f"--only {only!r} holds no pattern")
    return patterns


def row_label(op: str, shape: str, dtype: str, layout: str) -> str:
    return f"{op} {shape} {dtype} {layout}"


def selected(patterns: List[List[str]], op: str, shape: str, dtype: str, layout: str) -> bool:
    """Whether the row (op, shape, dtype, layout) is timed under ``patterns`` (parse_patterns)."""
    if not patterns:
        return True
    tokens = row_label(op, shape, dtype, layout).split()
    return any(all(any(_matches(word, token) for token in tokens) for word in words) for words in patterns)


def _matches(word: str, token: str) -> bool:
    return token == word[:-1] if word.endswith("$") else token.startswith(word)
