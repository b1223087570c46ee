"""A map-style dataset of training steps: item ``i`` of epoch ``e`` is one multi-graph batch.

Each step's batch is a pure function of (seed, rank, epoch, step), and the loader (:class:`StepLoader`) starts a
resumed epoch at the step after the last one trained, so a run resumed from any checkpoint, at an epoch boundary
or between two (``save_every_n_steps``), replays exactly the batches an uninterrupted run sees.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

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


class StepLoader(DataLoader):
    """The training loader: the dataset's steps in order, resumable in the middle of an epoch.

    Items are whole batches already: no collation, no shuffling (the order is part of reproducibility). Lightning
    stores :meth:`state_dict` in every checkpoint and hands it to :meth:`load_state_dict` on resume, before the
    epoch's first batch is drawn; the resumed epoch then skips the steps already trained. ``trained()`` is the
    number of steps trained so far (the module's ``global_step``; an epoch is ``len(self)`` steps).

    >>> class Steps(list):
    ...     def set_epoch(self, epoch): self.epoch = epoch
    >>> resumed = StepLoader(Steps(range(4)), trained=lambda: 6)
    >>> resumed.state_dict()
    {'epoch': 1, 'next': 2}
    >>> resumed.load_state_dict(resumed.state_dict())
    >>> list(resumed), list(resumed), resumed.dataset.epoch
    ([2, 3], [0, 1, 2, 3], 1)
    """

    def __init__(self, dataset: Dataset, trained: Callable[[], int], **kwargs):
        super().__init__(dataset, **{"batch_size": None, "shuffle": False, "num_workers": 0, **kwargs})
        self.trained, self._skip = trained, 0

    def __iter__(self) -> Iterator:
        skip, self._skip = self._skip, 0  # a resume skips once; the epochs after it are whole
        if not skip:
            return super().__iter__()
        return (self.dataset[i] for i in itertools.islice(iter(self.sampler), skip, None))

    def state_dict(self) -> dict[str, int]:
        """Where training stands: ``{"epoch": the epoch of the next step, "next": its place in that epoch}``."""
        epoch, step = divmod(self.trained(), len(self))
        return {"epoch": epoch, "next": step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        # Lightning calls no on_train_epoch_start for an epoch resumed in its middle: the epoch is set here
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(int(state["epoch"]))
        self._skip = int(state["next"])
