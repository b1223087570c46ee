"""Each sentence's best skills: the sentence and its clauses rank the skill space, a skill keeps its best score.

A sentence that lists skills ("Python, SQL and Spark") is far from each of them as a whole; its clauses
(:func:`uwe.extract.segment.clauses`) are close to one each. Taking, per skill, the best score of the
sentence and its clauses raised micro F1 on the house + tech validation sentences from 24.7 to 27.7
(zero-shot MiniLM, operating point fitted on validation), so fitting, evaluation and ``extract`` all score
this way. Fitting and evaluation also see a sentence as ``extract`` does: Windows-1252 punctuation read as C1
controls repaired (:func:`uwe.extract.checks.repair_cp1252`), a heading or a list's introduction unscored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uwe.extract.annotations import AnnotatedSentence
from uwe.extract.checks import repair_cp1252
from uwe.extract.segment import clauses, is_heading

SKILL_SPACE = "esco_skills"
# An ad's sentences and clauses (about 50 short texts for 20 sentences) are encoded longest first in batches of
# this many: each batch pads little. On one thread, batches of 8 took half the time of one batch of 49.
QUERY_BATCH = 8


def rank_sentences(ranker, sentences: list[str], k: int, space: str = SKILL_SPACE) -> list[list[tuple[str, float]]]:
    """Per sentence, its top ``k`` (label, score) of ``space``, a label's score being the best over the
    sentence and its clauses; best first, ties by label. One encoder pass over every text, in small
    length-sorted batches (:data:`QUERY_BATCH`).

    The top ``k`` of the merged scores is exact: each of them is in the top ``k`` of the text that gave it.
    """
    texts, owner = [], []
    for i, sentence in enumerate(sentences):
        for text in [sentence, *clauses(sentence)]:
            texts.append(text)
            owner.append(i)
    target = ranker.space(space)
    queries = ranker.retriever.encode_queries(texts, batch_size=QUERY_BATCH)
    best: list[dict[str, float]] = [{} for _ in sentences]
    for i, rows in zip(owner, ranker.retriever.top_k(queries, target.name, k)):
        for j, score in rows:
            label = target.labels[j]
            if score > best[i].get(label, -np.inf):
                best[i][label] = score
    return [sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k] for scores in best]


@dataclass(frozen=True)
class Candidates:
    """The scored (sentence, skill) pairs of a set of sentences: N pairs, ``n_gold`` gold pairs in all.

    ``group`` [N]: the sentence's index; ``rank`` [N]: 1-based position in its sentence; ``score`` [N];
    ``uri`` [N]; ``hit`` [N]: 1 where the pair is gold.
    """

    group: np.ndarray
    rank: np.ndarray
    score: np.ndarray
    uri: list[str]
    hit: np.ndarray
    n_gold: int


def rank_candidates(ranker, sentences: list[AnnotatedSentence], uri_of: dict[str, str], k: int) -> Candidates:
    """Each sentence's top ``k`` skills (:func:`rank_sentences`), checked against its gold URIs; as in
    ``extract``, a sentence is ranked with its Windows-1252 punctuation repaired, and a heading gets none."""
    texts = [repair_cp1252(s.text) for s in sentences]
    scored = [i for i, text in enumerate(texts) if not is_heading(text)]
    ranked = dict(zip(scored, rank_sentences(ranker, [texts[i] for i in scored], k)))
    group, rank, score, uri, hit = [], [], [], [], []
    for i, sentence in enumerate(sentences):
        for r, (label, value) in enumerate(ranked.get(i, []), start=1):
            group.append(i)
            rank.append(r)
            score.append(value)
            uri.append(uri_of[label])
            hit.append(uri_of[label] in sentence.skills)
    return Candidates(np.array(group), np.array(rank), np.array(score, dtype=np.float64), uri,
                      np.array(hit, dtype=np.int64), sum(len(s.skills) for s in sentences))
