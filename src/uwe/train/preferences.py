"""Preference triples (query, chosen, rejected) for RankPO, from training data only.

Two sources, each a config entry of ``preferences.sources`` (``conf/preferences``), so a study switches them:

- ``occurrence`` (graded vacancy data): per TRAIN vacancy title of ``vacancy_skill`` (the 80% split; val titles
  never), a skill that more of the title's vacancies name (``skill_occurrence_pct``) over one that fewer name,
  or, at equal occurrence, one the tagger was surer of (``skill_prob_avg``, by at least ``min_prob_gap``) over a
  less sure one. Both skills are positives of the title (edges of the leakage-guarded graph): the preference is
  among positives, which the contrastive stage treated as equal.
- ``hard_negatives``: per sampled left node of each named graph of the mix, one of its positives over one of the
  negatives the starting model ranks highest (:mod:`uwe.train.mining`, with its false-negative guard).

Triples that touch a test pair of an evaluated task, in either direction, are dropped and counted (the graphs
already are; :func:`drop_test_pairs`), and :func:`check_no_triple_leakage` then refuses any that remain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from uwe.data.graph import TrainingGraph
from uwe.data.leakage import LeakageError, pair_text
from uwe.errors import UserError
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder
from uwe.models.heads import ScoringHead

log = logging.getLogger(__name__)

SOURCES = ("occurrence", "hard_negatives")


class PreferenceError(UserError):
    """A preference source is misconfigured or yields no triple."""


@dataclass
class Triples:
    """Aligned lists: ``queries[i]`` prefers ``chosen[i]`` over ``rejected[i]``; ``sources[i]`` names the source.

    ``reference`` [N, 2] float32: the frozen reference model's (chosen, rejected) scores, once computed
    (:func:`reference_scores`); None before, or for a reference-free loss."""

    queries: list[str]
    chosen: list[str]
    rejected: list[str]
    sources: list[str]
    reference: torch.Tensor | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.queries)

    def counts(self) -> dict[str, int]:
        """Triples per source."""
        out: dict[str, int] = {}
        for s in self.sources:
            out[s] = out.get(s, 0) + 1
        return out

    @classmethod
    def concat(cls, parts: Iterable["Triples"]) -> "Triples":
        parts = list(parts)
        dropped: dict[str, int] = {}
        for p in parts:
            for k, v in p.dropped.items():
                dropped[k] = dropped.get(k, 0) + v
        return cls([q for p in parts for q in p.queries], [c for p in parts for c in p.chosen],
                   [r for p in parts for r in p.rejected], [s for p in parts for s in p.sources], dropped=dropped)

    def subset(self, rows: np.ndarray) -> "Triples":
        return Triples([self.queries[i] for i in rows], [self.chosen[i] for i in rows],
                       [self.rejected[i] for i in rows], [self.sources[i] for i in rows],
                       None if self.reference is None else self.reference[torch.as_tensor(rows)], dict(self.dropped))


def occurrence_triples(grades, graph: TrainingGraph, per_query: int = 8, min_prob_gap: float = 0.1,
                       seed: int = 42) -> Triples:
    """Graded preferences among each train title's skills (see the module docstring).

    Args:
        grades: a table with ``title``, ``skill_name``, ``occurrence``, ``prob`` per tagged skill
            (:func:`uwe.data.readers.vacancies.read_vacancy_grades`).
        graph: ``vacancy_skill``: only its (title, skill) edges are used, so only train titles, and never a pair
            the leakage guard removed.
        per_query: at most this many triples per title, drawn uniformly (seeded) from its preferred pairs.
        min_prob_gap: at equal occurrence, the least difference of ``prob`` that makes a preference.
        seed: the draw's seed.
    """
    left = {t: i for i, t in enumerate(graph.left)}
    right = {t: j for j, t in enumerate(graph.right)}
    edges = set(map(tuple, graph.edges.tolist()))
    by_title: dict[int, dict[int, tuple[float, float]]] = {}
    for title, skill, occ, prob in zip(grades["title"], grades["skill_name"], grades["occurrence"], grades["prob"]):
        i, j = left.get(str(title).strip()), right.get(str(skill).strip())
        if i is not None and j is not None and (i, j) in edges:
            best = by_title.setdefault(i, {}).get(j)
            if best is None or (occ, prob) > best:  # a skill listed twice for a title: its best grade
                by_title[i][j] = (float(occ), float(prob))
    rng = np.random.default_rng(seed)
    queries, chosen, rejected = [], [], []
    for i in sorted(by_title):
        skills = sorted(by_title[i].items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
        pairs = [(a, b) for x, (a, ga) in enumerate(skills) for b, gb in skills[x + 1:]
                 if ga[0] > gb[0] or (ga[0] == gb[0] and ga[1] - gb[1] >= min_prob_gap)]
        if len(pairs) > per_query:
            pairs = [pairs[p] for p in np.sort(rng.choice(len(pairs), per_query, replace=False))]
        for a, b in pairs:
            queries.append(graph.left[i])
            chosen.append(graph.right[a])
            rejected.append(graph.right[b])
    return Triples(queries, chosen, rejected, ["occurrence"] * len(queries))


def hard_negative_triples(graph: TrainingGraph, negatives: np.ndarray, left_ids: np.ndarray, seed: int = 42) -> Triples:
    """One triple per mined left node: a random positive of it over a random one of its mined negatives.

    Args:
        graph: the graph mined.
        negatives: [N, k] right node ids from :func:`uwe.train.mining.mine_negatives` (-1: none), rows aligned
            with ``left_ids`` [N].
        seed: the draw's seed.
    """
    rng = np.random.default_rng(seed)
    order = np.argsort(graph.edges[:, 0], kind="stable")
    by_left, starts = graph.edges[order, 1], np.searchsorted(graph.edges[order, 0], np.arange(len(graph.left) + 1))
    queries, chosen, rejected = [], [], []
    for row, i in enumerate(left_ids):
        valid = negatives[row][negatives[row] >= 0]
        positives = by_left[starts[i]:starts[i + 1]]
        if not len(valid) or not len(positives):
            continue
        queries.append(graph.left[i])
        chosen.append(graph.right[int(positives[rng.integers(len(positives))])])
        rejected.append(graph.right[int(valid[rng.integers(len(valid))])])
    return Triples(queries, chosen, rejected, [f"hard_negatives/{graph.name}"] * len(queries))


def drop_test_pairs(triples: Triples, test_pairs: Mapping[tuple[str, str], str]) -> Triples:
    """Without the triples whose (query, chosen) or (query, rejected) equals a test pair in either direction
    (``test_pairs``: :func:`uwe.data.leakage.test_pair_set`); their number is added to ``dropped``."""
    keep = [i for i in range(len(triples))
            if (pair_text(triples.queries[i]), pair_text(triples.chosen[i])) not in test_pairs
            and (pair_text(triples.queries[i]), pair_text(triples.rejected[i])) not in test_pairs]
    out = triples.subset(np.asarray(keep, dtype=np.int64))
    if len(keep) < len(triples):
        out.dropped["test_pair"] = out.dropped.get("test_pair", 0) + len(triples) - len(keep)
    return out


def check_no_triple_leakage(triples: Triples, test_pairs: Mapping[tuple[str, str], str], max_examples: int = 5) -> None:
    """Refuse triples of which a (query, chosen) or (query, rejected) pair equals a test pair."""
    leaks = [(q, t, test_pairs[k]) for q, c, r in zip(triples.queries, triples.chosen, triples.rejected)
             for t in (c, r) if (k := (pair_text(q), pair_text(t))) in test_pairs]
    if leaks:
        shown = "; ".join(f"({q!r}, {t!r}) in {k}" for q, t, k in leaks[:max_examples])
        raise LeakageError(f"refusing to train: {len(leaks)} preference pair(s) equal test pairs, e.g. {shown}")


def build_triples(sources: Mapping[str, Mapping | None], builders: Mapping[str, Callable[[Mapping], Triples]],
                  test_pairs: Mapping[tuple[str, str], str]) -> Triples:
    """The triples of every configured source (a source set to None is off), test pairs dropped and guarded.

    ``builders``: source name -> a function of the source's config that returns its triples. An unknown
    source, no source at all, or a source that yields no triple is an error naming it."""
    active = {k: v for k, v in (sources or {}).items() if v is not None}
    if not active:
        raise PreferenceError("preferences.sources has no source; pick one of conf/preferences/*.yaml, e.g. "
                              "preferences=occurrence")
    unknown = sorted(set(active) - set(builders))
    if unknown:
        raise PreferenceError(f"unknown preference source(s) {unknown}; valid: {', '.join(builders)}")
    parts = []
    for name, options in active.items():
        part = drop_test_pairs(builders[name](options), test_pairs)
        if not len(part):
            raise PreferenceError(f"preference source {name!r} yields no triple with {dict(options)} (dropped: "
                                  f"{part.dropped or 'none'}); loosen its options or turn it off with "
                                  f"preferences.sources.{name}=null")
        log.info("preference source %s: %d triples (dropped %s), e.g. %s", name, len(part), part.dropped or "none",
                 "; ".join(f"{q!r}: {c!r} > {r!r}" for q, c, r in list(zip(part.queries, part.chosen, part.rejected))[:3]))
        parts.append(part)
    triples = Triples.concat(parts)
    check_no_triple_leakage(triples, test_pairs)
    return triples


def triple_scores(head: ScoringHead, q: Embeddings, c: Embeddings, r: Embeddings) -> torch.Tensor:
    """[B, 2] the head's scores of (q[i], c[i]) and (q[i], r[i]): a triple's chosen and rejected scores, each an
    aligned pair scored alone (``ScoringHead.paired``)."""
    return torch.stack([head.paired(q, c), head.paired(q, r)], 1)


@torch.inference_mode()
def reference_scores(encoder: TextEncoder, head: ScoringHead, triples: Triples, batch: int = 256,
                     precision: str = "32", chunk: int = 2048) -> torch.Tensor:
    """[N, 2] float32 (chosen, rejected) scores of the triples by a model, computed once before stage 2 (the
    frozen reference: never part of the graph that trains, so it costs no forward or backward per step).

    ``chunk`` triples at a time: their texts are encoded in one call (each distinct text once: a title's
    triples share it) on the encoder's device, where their pairs are scored ``batch`` at a time."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    out = []
    try:
        for lo in range(0, len(triples), chunk):
            rows = slice(lo, lo + chunk)
            texts = [*triples.queries[rows], *triples.chosen[rows], *triples.rejected[rows]]
            n = len(texts) // 3
            emb = encoder.encode(texts, batch_size=batch, show_progress=False, precision=precision,
                                 use_backend=False, out_device=device).to(dtype=torch.float32)
            for b in range(0, n, batch):
                q, c, r = (emb[a + b:a + min(b + batch, n)] for a in (0, n, 2 * n))
                out.append(triple_scores(head, q, c, r).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 2)


@dataclass
class TripleBatch:
    """One step of stage 2: token ids of the queries, chosen and rejected texts, and their reference scores."""

    query_tokens: list[list[int]]
    chosen_tokens: list[list[int]]
    rejected_tokens: list[list[int]]
    reference: torch.Tensor | None


class TripleBatches(Dataset):
    """``steps`` items per epoch, each ``size`` triples drawn without replacement, a pure function of (seed,
    epoch, step) like the graph batches, so a resumed run replays the same steps."""

    def __init__(self, triples: Triples, tokenize: Callable[[list[str]], list[list[int]]], size: int, steps: int,
                 seed: int):
        texts = sorted({*triples.queries, *triples.chosen, *triples.rejected})
        ids = dict(zip(texts, tokenize(texts)))
        self.query_tokens = [ids[t] for t in triples.queries]
        self.chosen_tokens = [ids[t] for t in triples.chosen]
        self.rejected_tokens = [ids[t] for t in triples.rejected]
        self.reference = triples.reference
        self.size, self.steps, self.seed, self.epoch = min(size, len(triples)), steps, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> TripleBatch:
        rows = np.random.default_rng([self.seed, self.epoch, step]).choice(len(self.query_tokens), self.size,
                                                                           replace=False)
        return TripleBatch([self.query_tokens[i] for i in rows], [self.chosen_tokens[i] for i in rows],
                           [self.rejected_tokens[i] for i in rows],
                           None if self.reference is None else self.reference[torch.as_tensor(rows)])
