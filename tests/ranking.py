"""Comparing rankings without depending on the order of float ties.

Two paths to the same scores (ONNX and torch, a batch and one text, a merged and a direct score) agree only up
to float rounding, and that rounding depends on the CPU (AVX-512 or not, the kernel a library picks). Two labels
whose scores tie within it may come in either order, and either may take the k-th place. A test that compares
the order of labels from two paths must accept any order of such ties, and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def assert_top_k(got: Sequence[tuple[str, float]], reference: Mapping[str, float], tol: float = 1e-6) -> None:
    """``got`` is a top k of ``reference`` (every label's score on the reference path) up to ties within ``tol``.

    Checked: the labels are distinct; each score is its label's reference score within ``tol``; no score is above
    the one before it by more than ``tol``; and no label left out scores more than ``tol`` above the k-th.

    >>> assert_top_k([("b", 0.9), ("a", 0.9)], {"a": 0.9, "b": 0.9 - 1e-8, "c": 0.1})
    >>> assert_top_k([("c", 0.1)], {"a": 0.9, "c": 0.1})
    Traceback (most recent call last):
    AssertionError: 'a' (0.9) is left out of the top 1, above its last score 0.1 by more than 1e-06
    """
    labels = [label for label, _ in got]
    # Plain raises, not asserts: pytest's rewriting would append its own explanation to the message.
    if len(set(labels)) != len(labels):
        raise AssertionError(f"a label is listed twice: {labels}")
    for label, score in got:
        if abs(score - reference[label]) > tol:
            raise AssertionError(f"{label!r} scores {score}, its reference {reference[label]}")
    for (a, sa), (b, sb) in zip(got, got[1:]):
        if sb > sa + tol:
            raise AssertionError(f"{b!r} ({sb}) is ranked below {a!r} ({sa})")
    if got:
        listed, last = set(labels), got[-1][1]
        for label, score in reference.items():
            if label not in listed and score > last + tol:
                raise AssertionError(f"{label!r} ({score}) is left out of the top {len(got)}, above its last score "
                                     f"{last} by more than {tol}")
