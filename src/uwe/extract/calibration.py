"""Scores -> calibrated probabilities: Platt scaling or isotonic regression, chosen by cross-validated log-loss.

A :class:`Calibrator` is a monotone map from a head's score to P(label is right), stored as plain numbers
(JSON, never a pickle) and applied with numpy. :func:`fit_calibrator` fits both kinds with scikit-learn on
(score, 0/1) examples, compares their log-loss on held-out folds (folds by group, e.g. by sentence, so one
sentence's candidates never sit on both sides) and returns the better one refitted on every example.

References:
    Platt, "Probabilistic outputs for support vector machines", 1999.
    Zadrozny & Elkan, "Transforming classifier scores into accurate multiclass probability estimates", KDD 2002.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

KINDS = ("platt", "isotonic")
# Probabilities are clipped away from 0 and 1 before a log-loss: isotonic regression gives exact 0s and 1s.
EPS = 1e-4


@dataclass(frozen=True)
class Calibrator:
    """A monotone non-decreasing map from score to probability.

    ``platt``: ``sigmoid(a * score + b)`` with ``params = [a, b]`` (a >= 0). ``isotonic``: piecewise linear
    through the points ``(x[i], y[i])`` (x increasing, y non-decreasing), constant beyond them.
    """

    kind: str
    params: list[float] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    def __call__(self, scores) -> np.ndarray:
        """Probabilities [...] of scores [...] (any shape)."""
        scores = np.asarray(scores, dtype=np.float64)
        if self.kind == "platt":
            a, b = self.params
            return 1.0 / (1.0 + np.exp(-(a * scores + b)))
        return np.interp(scores, self.x, self.y)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Calibrator":
        """The calibrator ``to_dict`` wrote; ValueError if it is not a valid monotone one."""
        calibrator = cls(**data)
        if calibrator.kind == "platt":
            if len(calibrator.params) != 2 or calibrator.params[0] < 0:
                raise ValueError(f"a platt calibrator needs params [a >= 0, b], got {calibrator.params}")
        elif calibrator.kind == "isotonic":
            x, y = np.asarray(calibrator.x), np.asarray(calibrator.y)
            if len(x) < 1 or len(x) != len(y) or np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                raise ValueError("an isotonic calibrator needs as many x as y, both non-decreasing")
        else:
            raise ValueError(f"unknown calibrator kind {calibrator.kind!r}; known: {', '.join(KINDS)}")
        return calibrator


def fit_platt(scores: np.ndarray, labels: np.ndarray) -> Calibrator:
    """Platt scaling: a logistic regression of ``labels`` [N] (0/1) on ``scores`` [N], unregularised.

    Scores that anti-correlate with the labels (a negative slope) carry no usable signal: the probability is
    then the base rate for every score (slope 0), never one that falls as the score rises.
    """
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(scores).reshape(-1, 1), labels)
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    if a < 0:
        rate = float(np.clip(np.mean(labels), EPS, 1 - EPS))
        a, b = 0.0, float(np.log(rate / (1 - rate)))
    return Calibrator("platt", params=[a, b])


def fit_isotonic(scores: np.ndarray, labels: np.ndarray) -> Calibrator:
    """Isotonic regression of ``labels`` [N] on ``scores`` [N]: the non-decreasing step fit with least squares."""
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, labels)
    return Calibrator("isotonic", x=model.X_thresholds_.tolist(), y=model.y_thresholds_.tolist())


FITTERS = {"platt": fit_platt, "isotonic": fit_isotonic}


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of 0/1 ``labels`` [N] under ``probs`` [N], clipped to [EPS, 1 - EPS].

    >>> round(log_loss(np.array([0.9, 0.2]), np.array([1, 0])), 4)  # -(ln 0.9 + ln 0.8) / 2
    0.1643
    """
    probs = np.clip(probs, EPS, 1 - EPS)
    return float(-np.mean(labels * np.log(probs) + (1 - labels) * np.log(1 - probs)))


def fit_calibrator(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, folds: int = 5,
                   seed: int = 0) -> tuple[Calibrator, dict[str, float]]:
    """The kind of :data:`KINDS` with the lower ``folds``-fold log-loss, refitted on all examples, and each
    kind's cross-validated log-loss.

    Args:
        scores: [N] the head's scores of the examples.
        labels: [N] 1 where the example is right, else 0; both values must occur.
        groups: [N] group ids (e.g. the sentence): a group's examples are all in one fold.
        folds: number of folds (capped at the number of groups).
        seed: shuffles the groups into folds.
    """
    scores, labels, groups = np.asarray(scores, float), np.asarray(labels, int), np.asarray(groups)
    if labels.min() == labels.max():
        raise ValueError(f"calibration needs right and wrong examples, got {len(labels)} all labelled {labels[0]}")
    unique = np.random.default_rng(seed).permutation(np.unique(groups))
    fold_of = {g: i % min(folds, len(unique)) for i, g in enumerate(unique)}
    fold = np.array([fold_of[g] for g in groups])
    losses: dict[str, float] = {}
    for kind, fit in FITTERS.items():
        probs = np.empty(len(scores))
        for f in np.unique(fold):
            train, held = fold != f, fold == f
            if labels[train].min() == labels[train].max():  # a fold left with one class: predict its rate
                probs[held] = labels[train].mean()
                continue
            probs[held] = fit(scores[train], labels[train])(scores[held])
        losses[kind] = log_loss(probs, labels)
    best = min(losses, key=losses.get)
    return FITTERS[best](scores, labels), losses
