"""Set-extraction metrics over (sentence, skill) pairs: micro precision, recall, F1, the precision-recall
curve, the F1-best operating point and the expected calibration error.

Candidates are the pairs a model scored (e.g. each sentence's top 20 skills); ``n_gold`` counts every gold
pair, also those no candidate holds, so a skill the model never ranked is a miss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PRF:
    """Micro precision, recall and F1 (fractions), with the counts they come from."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    predicted: int
    gold: int


def prf(true_positives: int, predicted: int, gold: int) -> PRF:
    """Micro P/R/F1 from counts; 0 where a denominator is 0.

    >>> prf(2, 4, 8)  # P = 2/4, R = 2/8, F1 = 2PR / (P + R) = 1/3
    PRF(precision=0.5, recall=0.25, f1=0.3333333333333333, true_positives=2, predicted=4, gold=8)
    """
    p = true_positives / predicted if predicted else 0.0
    r = true_positives / gold if gold else 0.0
    return PRF(p, r, 2 * p * r / (p + r) if p + r else 0.0, true_positives, predicted, gold)


def pr_curve(probs: np.ndarray, hits: np.ndarray, n_gold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds [T], precision [T], recall [T]): predicting every candidate with prob >= thresholds[i].

    Args:
        probs: [N] the candidates' probabilities (or scores).
        hits: [N] 1 where the candidate is a gold pair.
        n_gold: every gold pair, ranked or not.

    >>> t, p, r = pr_curve(np.array([0.9, 0.8, 0.8, 0.1]), np.array([1, 0, 1, 0]), n_gold=4)
    >>> t.tolist(), p.tolist(), r.tolist()
    ([0.9, 0.8, 0.1], [1.0, 0.6666666666666666, 0.5], [0.25, 0.5, 0.5])
    """
    order = np.argsort(-probs, kind="stable")
    probs, hits = probs[order], hits[order]
    tp = np.cumsum(hits)
    last = np.r_[probs[1:] != probs[:-1], True]  # ties are predicted together: the last of each run of equals
    thresholds, tp, predicted = probs[last], tp[last], (np.flatnonzero(last) + 1)
    return thresholds, tp / predicted, tp / max(n_gold, 1)


def best_threshold(probs: np.ndarray, hits: np.ndarray, n_gold: int) -> tuple[float, PRF]:
    """The threshold with the highest micro F1 (the highest such threshold on a tie) and its P/R/F1.

    >>> best_threshold(np.array([0.9, 0.8, 0.8, 0.1]), np.array([1, 0, 1, 0]), n_gold=2)[0]
    0.8
    """
    thresholds, precision, recall = pr_curve(probs, hits, n_gold)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    i = int(np.argmax(f1))
    tp = int(round(recall[i] * n_gold))
    return float(thresholds[i]), prf(tp, int(round(tp / precision[i])) if precision[i] else 0, n_gold)


def reliability(probs: np.ndarray, hits: np.ndarray, bins: int = 10) -> dict[str, list]:
    """Equal-width probability bins: each bin's mean probability, observed rate of hits and count."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    out: dict[str, list] = {"lower": edges[:-1].tolist(), "upper": edges[1:].tolist(), "confidence": [],
                            "accuracy": [], "count": []}
    for b in range(bins):
        mask = which == b
        out["count"].append(int(mask.sum()))
        out["confidence"].append(float(probs[mask].mean()) if mask.any() else None)
        out["accuracy"].append(float(hits[mask].mean()) if mask.any() else None)
    return out


def expected_calibration_error(probs: np.ndarray, hits: np.ndarray, bins: int = 10) -> float:
    """ECE: sum over equal-width bins of (bin count / N) * |mean probability - rate of hits|.

    >>> round(expected_calibration_error(np.array([0.05, 0.05, 0.95, 0.95]), np.array([0, 0, 1, 0])), 4)
    0.25
    """
    table = reliability(probs, hits, bins)
    n = len(probs)
    return float(sum(c / n * abs(conf - acc) for conf, acc, c in
                     zip(table["confidence"], table["accuracy"], table["count"]) if c))
