"""Text hygiene shared by tasks and graphs."""

from __future__ import annotations

import re
from collections.abc import Iterable


def split_labels(cell: str, *, exclude: str = "") -> list[str]:
    """ESCO multi-label cell -> labels: split on newlines, strip, keep if longer than one character,
    drop duplicates (first kept) and ``exclude`` (the concept's own preferred label).

    >>> split_labels("a b\\n x \\n a b\\nself\\n", exclude="self")
    ['a b']
    """
    out: list[str] = []
    for raw in cell.split("\n"):
        label = raw.strip()
        if len(label) > 1 and label != exclude and label not in out:
            out.append(label)
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split a description into sentences at ``. ``/``! ``/``? `` followed by a capital or digit.

    >>> split_sentences("Assign staff. Manage budgets, e.g. costs.  ")
    ['Assign staff.', 'Manage budgets, e.g. costs.']
    """
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if len(s.strip()) > 1]


def strip_pairs(pairs: Iterable[tuple[object, object]]) -> tuple[list[tuple[str, str]], int]:
    """Stripped (a, b) text pairs, and how many were dropped because a side was empty or not a string
    (NaN from a CSV, None).

    >>> strip_pairs([(" a ", "b"), ("", "b"), ("c", float("nan"))])
    ([('a', 'b')], 2)
    """
    kept, dropped = [], 0
    for a, b in pairs:
        a = a.strip() if isinstance(a, str) else ""
        b = b.strip() if isinstance(b, str) else ""
        if a and b:
            kept.append((a, b))
        else:
            dropped += 1
    return kept, dropped
