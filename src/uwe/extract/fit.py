"""Fit an extraction calibration on validation data only: the skill decision rule and both calibrators.

Skills: every validation sentence of the house and tech annotations (``LABEL NOT PRESENT`` ones included, as
negatives) ranks the ESCO skill space with its clauses (:mod:`uwe.extract.candidates`); its top
:data:`CANDIDATES` are examples, right when the skill is gold. The decision rule says a skill is present when it
is among its sentence's first ``max_per_sentence`` and its probability reaches ``threshold``; for each cap, a
calibrator maps the head's score of those first candidates to P(right)
(:func:`uwe.extract.calibration.fit_calibrator`: Platt or isotonic by 5-fold log-loss, folds by sentence), and
the cap and threshold kept are those with the best micro F1 on the same sentences (:func:`fit_rule`).
Occupations: a seeded sample of JobNorm validation titles ranks the ESCO occupations; their top
:data:`OCCUPATION_CANDIDATES` (as many as ``extract`` gives) calibrate P(right occupation). No test file is read.
"""

from __future__ import annotations

import random

import numpy as np

from uwe.data.catalog import Catalog
from uwe.extract.annotations import DOMAINS, annotated_sentences, count_unknown, esco_uris
from uwe.extract.calibration import fit_calibrator
from uwe.extract.candidates import SKILL_SPACE, Candidates, rank_candidates
from uwe.extract.metrics import best_threshold

OCCUPATION_SPACE = "esco_occupations"
CANDIDATES = 20  # skills scored per sentence
CAPS = (1, 2, 3, 5, 10, 20)  # skills a sentence may give, tried on validation
OCCUPATION_CANDIDATES = 3  # occupations given per title, each with its probability
OCCUPATION_SAMPLE = 1000  # JobNorm validation titles (of 15,192)
SEED = 0


def fit_rule(candidates: Candidates) -> dict:
    """The decision rule and its calibrator: for each cap m of :data:`CAPS`, a calibrator fitted on the sentences'
    first m candidates (the skills the rule may keep, so that its probabilities describe them) and the threshold
    on its probabilities with the best micro F1; the m with the best F1 (the smallest on a tie), with its
    calibrator, threshold, validation precision / recall / F1 and cross-validated log-losses."""
    best = None
    for cap in sorted({min(cap, int(candidates.rank.max())) for cap in CAPS}):
        keep = candidates.rank <= cap
        if candidates.hit[keep].min() == candidates.hit[keep].max():
            continue  # all right or all wrong: nothing to calibrate at this cap
        calibrator, losses = fit_calibrator(candidates.score[keep], candidates.hit[keep], candidates.group[keep],
                                            seed=SEED)
        threshold, scores = best_threshold(calibrator(candidates.score[keep]), candidates.hit[keep],
                                           candidates.n_gold)
        if best is None or scores.f1 > best["val"]["f1"] + 1e-12:
            best = {"max_per_sentence": cap, "threshold": threshold, "calibrator": calibrator.to_dict(),
                    "cv_log_loss": losses, "examples": int(keep.sum()),
                    "val": {"precision": scores.precision, "recall": scores.recall, "f1": scores.f1}}
    if best is None:
        raise ValueError(f"calibration needs right and wrong candidates; the {len(candidates.hit)} validation "
                         "candidates are all one or the other")
    return best


def fit_skills(ranker, catalog: Catalog) -> dict:
    """The skill calibrator and decision rule of ``ranker``, fitted on house + tech validation."""
    sentences = [s for domain in DOMAINS for s in annotated_sentences(catalog.raw, domain, "val")]
    k = min(CANDIDATES, len(ranker.space(SKILL_SPACE).labels))
    candidates = rank_candidates(ranker, sentences, esco_uris(catalog.raw), k)
    return {**fit_rule(candidates), "candidates": k, "sentences": len(sentences), "gold_pairs": candidates.n_gold,
            "recall_ceiling": float(candidates.hit.sum() / max(candidates.n_gold, 1)),
            "unknown_gold_labels": count_unknown(sentences)}


def fit_occupations(ranker, catalog: Catalog) -> dict:
    """The occupation calibrator of ``ranker``, fitted on a seeded sample of JobNorm validation titles."""
    task = catalog.task("jobnorm", "val")
    rows = sorted(random.Random(SEED).sample(range(len(task.queries)), min(OCCUPATION_SAMPLE, len(task.queries))))
    titles = [task.queries[i] for i in rows]
    k = min(OCCUPATION_CANDIDATES, len(task.targets))
    ranked = ranker.rank(titles, OCCUPATION_SPACE, k=k)
    scores, hits, groups = [], [], []
    for row, results in zip(rows, ranked):
        gold = {task.targets[j] for j in task.labels[row]}
        for label, value in results:
            scores.append(value)
            hits.append(label in gold)
            groups.append(row)
    calibrator, losses = fit_calibrator(np.array(scores), np.array(hits, dtype=np.int64), np.array(groups),
                                        seed=SEED)
    return {"calibrator": calibrator.to_dict(), "candidates": k, "cv_log_loss": losses, "titles": len(titles),
            "top1_accuracy": float(np.mean(hits[::k]))}
