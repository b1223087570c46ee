"""Length-sorted packing of token-id sequences: one encoder pass per step with little padding.

A training step encodes the left and right texts of every graph of the mix. Encoding them as one list,
sorted by length and cut into chunks of similar length, costs one forward per chunk instead of two per
graph, and pads each text only up to the longest text of ITS chunk (titles and skills are short,
description sentences are not). Each text's embedding is unchanged: attention never crosses the padding.
"""

from __future__ import annotations

import torch


def length_chunks(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Indices of ``lengths`` sorted longest first, cut into chunks whose padded size stays <= ``max_tokens``.

    The padded size of a chunk is (number of texts) x (its longest text); a text longer than ``max_tokens``
    gets a chunk of its own. Every index appears exactly once.

    >>> length_chunks([3, 10, 2, 9, 3], max_tokens=20)
    [[1, 3], [0, 4, 2]]
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    chunks: list[list[int]] = []
    for i in order:
        # Longest first: the first index of a chunk sets its padded width.
        if chunks and (len(chunks[-1]) + 1) * lengths[chunks[-1][0]] <= max_tokens:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


def pad_ids(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` [N, L] (int64) and ``attention_mask`` [N, L] (int64), L = longest sequence.

    >>> ids, mask = pad_ids([[5, 6, 7], [8]], pad_id=0)
    >>> ids.tolist(), mask.tolist()
    ([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]])
    """
    width = max((len(s) for s in seqs), default=0)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(seqs), width), dtype=torch.int64)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.int64)
        mask[row, : len(seq)] = 1
    return ids, mask


def inverse_order(chunks: list[list[int]]) -> torch.Tensor:
    """[N] int64: position of each original index in the concatenation of ``chunks``.

    >>> inverse_order([[1, 3], [0, 2]]).tolist()
    [2, 0, 3, 1]
    """
    flat = torch.tensor([i for chunk in chunks for i in chunk], dtype=torch.int64)
    inverse = torch.empty_like(flat)
    inverse[flat] = torch.arange(len(flat))
    return inverse
