"""Extraction on the house and tech test sentences: micro P/R/F1 at the calibrated operating point, the
precision-recall curve and the calibration error of a model; the same P/R/F1 for any tool's predicted URIs.

Pairs are (sentence, ESCO concept URI); every test sentence counts, ``LABEL NOT PRESENT`` ones as negatives
(:mod:`uwe.extract.annotations`). The calibration was fitted on validation only (:mod:`uwe.extract.fit`).
"""

from __future__ import annotations

from uwe.data.catalog import Catalog
from uwe.extract.annotations import AnnotatedSentence, annotated_sentences, count_unknown, esco_uris
from uwe.extract.candidates import rank_candidates
from uwe.extract.metrics import expected_calibration_error, pr_curve, prf, reliability
from uwe.extract.store import Calibration


def evaluate_model(ranker, calibration: Calibration, catalog: Catalog, domain: str, split: str = "test") -> dict:
    """P/R/F1 at ``calibration``'s operating point, the PR curve over its threshold (sentence cap kept), and ECE
    and the reliability table over the candidates the calibrator describes (each sentence's first
    ``max_per_sentence``), on ``{domain}_{split}``."""
    sentences = annotated_sentences(catalog.raw, domain, split)
    candidates = rank_candidates(ranker, sentences, esco_uris(catalog.raw), calibration.candidates)
    probs = calibration.skills(candidates.score)
    capped = candidates.rank <= calibration.max_per_sentence
    chosen = capped & (probs >= calibration.threshold)
    at_point = prf(int(candidates.hit[chosen].sum()), int(chosen.sum()), candidates.n_gold)
    thresholds, precision, recall = pr_curve(probs[capped], candidates.hit[capped], candidates.n_gold)
    return {
        "sentences": len(sentences), "negative_sentences": sum(not s.skills for s in sentences),
        "gold_pairs": candidates.n_gold, "unknown_gold_labels": count_unknown(sentences),
        "operating_point": vars(at_point),
        "threshold": calibration.threshold, "max_per_sentence": calibration.max_per_sentence,
        "recall_ceiling": float(candidates.hit.sum() / max(candidates.n_gold, 1)),
        "ece": expected_calibration_error(probs[capped], candidates.hit[capped]),
        "reliability": reliability(probs[capped], candidates.hit[capped]),
        "pr_curve": {"threshold": thresholds.tolist(), "precision": precision.tolist(), "recall": recall.tolist()},
    }


def score_predictions(sentences: list[AnnotatedSentence], predicted: list[list[str]]) -> dict:
    """Micro P/R/F1 of predicted URIs per sentence (duplicates counted once) against the gold URIs.

    >>> gold = [AnnotatedSentence("a", frozenset({"u1", "u2"})), AnnotatedSentence("b", frozenset())]
    >>> score_predictions(gold, [["u1", "u1", "u3"], ["u4"]])["f1"]  # P = 1/3, R = 1/2
    0.4
    """
    if len(predicted) != len(sentences):
        raise ValueError(f"{len(predicted)} predictions for {len(sentences)} sentences")
    tp = sum(len(set(p) & s.skills) for s, p in zip(sentences, predicted))
    return vars(prf(tp, sum(len(set(p)) for p in predicted), sum(len(s.skills) for s in sentences)))

