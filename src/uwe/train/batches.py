"""A map-style dataset of training steps: item ``i`` of epoch ``e`` is one multi-graph batch.

Each step's batch is a pure function of (seed, rank, epoch, step), so a run resumed from a checkpoint at an
epoch boundary replays exactly the batches an uninterrupted run sees.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from torch.utils.data import DataLoader, Dataset

from uwe.data.mix import MixEntry
from uwe.train.sampler import GraphBatch, GraphSampler


class MixBatches(Dataset):
    """``steps`` items per epoch; each is ``{graph name: GraphBatch}`` with one batch from every graph.

    Args:
        mix: the task mixture (graphs with alpha and tau).
        nodes: right nodes sampled per graph per step, on this process (the global batch is nodes x world size).
        pad_prob: per-graph probability of the sentence-padding augmentation (missing: 0).
        tokenize: texts -> token-id lists; when given, every graph is tokenised once and batches carry ids.
    """

    def __init__(self, mix: list[MixEntry], nodes: int, steps: int, seed: int, rank: int = 0,
                 pad_prob: dict[str, float] | None = None,
                 tokenize: Callable[[list[str]], list[list[int]]] | None = None):
        self.samplers = {e.graph.name: GraphSampler(e.graph, nodes, (pad_prob or {}).get(e.graph.name, 0.0), tokenize)
                         for e in mix}
        self.steps, self.seed, self.rank, self.epoch = steps, seed, rank, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> dict[str, GraphBatch]:
        out = {}
        for g, (name, sampler) in enumerate(self.samplers.items()):
            rng = np.random.default_rng([self.seed, self.rank, self.epoch, step, g])
            out[name] = sampler.sample(rng)
        return out


def loader(dataset: MixBatches) -> DataLoader:
    """Items are whole batches already: no collation, no shuffling (the order is part of reproducibility)."""
    return DataLoader(dataset, batch_size=None, shuffle=False, num_workers=0)
