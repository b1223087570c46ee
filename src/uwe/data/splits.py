"""The two splits of the protocol: seeded fractions, and SkillNorm's class-uniform split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def seeded_split(items: Sequence[str], fraction: float, seed: int = 42) -> tuple[list[str], list[str]]:
    """Split unique ``items`` into (a ``fraction`` of them, the rest), reproducibly.

    The items are de-duplicated and sorted first, so the split does not depend on file order; a
    ``numpy.random.default_rng(seed)`` permutation picks ``round(fraction * n)`` of them. Both parts keep
    sorted order.

    >>> seeded_split(["c", "a", "b", "a", "d"], 0.5, seed=0)
    (['a', 'c'], ['b', 'd'])
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    unique = sorted(set(items))
    order = np.random.default_rng(seed).permutation(len(unique))
    k = int(round(fraction * len(unique)))
    chosen = set(order[:k].tolist())
    picked = [x for i, x in enumerate(unique) if i in chosen]
    rest = [x for i, x in enumerate(unique) if i not in chosen]
    return picked, rest


def class_uniform_split(alias_classes: Sequence[tuple[str, Sequence[str]]]) -> tuple[list[str], list[str]]:
    """WorkBench's SkillNorm split: (val pool, test) aliases.

    Walk ``(alias, its classes)`` in file order; an alias goes to the val pool if any of its classes has no
    alias in the pool yet, else to test. A class's count goes up after each alias that names it, whichever
    side the alias went to (WORKBENCH.md: "counts go up after each alt"), so the pool holds about one alias
    per class.

    >>> class_uniform_split([("a1", ["A"]), ("a2", ["A"]), ("b1", ["B"]), ("ab", ["A", "B"]), ("c1", ["C", "A"])])
    (['a1', 'b1', 'c1'], ['a2', 'ab'])
    """
    seen: dict[str, int] = {}
    pool: list[str] = []
    test: list[str] = []
    for alias, classes in alias_classes:
        (pool if any(seen.get(c, 0) == 0 for c in classes) else test).append(alias)
        for c in classes:
            seen[c] = seen.get(c, 0) + 1
    return pool, test
