"""Cross-process in-batch negatives: 2 gloo ranks give the single-process loss and gradient on the global batch.

The global batch: 7 queries and 6 targets, raw token features [N, L, 4] of per-row lengths. Rank 0 holds
queries 0..2 and targets 0..3, rank 1 queries 3..6 and targets 4..5 (unequal N), each cropped to its own
longest row (unequal L). A tiny ``nn.Linear`` encoder (same seed everywhere) gives token states and their
masked mean; the positive mask comes from the gathered node ids and a fixed edge set with cross-rank edges.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from uwe.models.distributed import gather_embeddings, gather_ids
from uwe.models.embeddings import Embeddings
from uwe.models.heads import CosineHead, SoftLateInteractionHead
from uwe.models.losses import m2m_infonce

WORLD = 2
D_IN, D = 4, 3
TAU = 0.05
Q_LEN = [2, 1, 2, 4, 3, 1, 2]  # real tokens per query row
T_LEN = [3, 1, 2, 3, 5, 2]  # real tokens per target row
Q_SPLIT, T_SPLIT = [3, 4], [4, 2]  # rows per rank
Q_IDS, T_IDS = torch.arange(10, 17), torch.arange(20, 26)
# (query id, target id); several cross-rank edges, query 16 has none, query 10 and 13 have two.
EDGES = torch.tensor([[10, 20], [10, 24], [11, 21], [12, 25], [13, 20], [13, 22], [14, 23], [15, 24]])
HEADS = {"cosine": CosineHead(), "soft_li": SoftLateInteractionHead(tau_a=0.5)}


def _raw(lengths: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features [N, max L, D_IN] (float64) and their mask [N, max L]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), D_IN, generator=g, dtype=torch.float64)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    return x, mask


def global_batch() -> dict[str, torch.Tensor]:
    xq, mq = _raw(Q_LEN, 0)
    xt, mt = _raw(T_LEN, 1)
    return {"xq": xq, "mq": mq, "xt": xt, "mt": mt, "qid": Q_IDS, "tid": T_IDS}


def local_batch(rank: int) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s rows of the global batch, cropped to its own longest row."""
    full, out = global_batch(), {}
    for side, split, lengths in (("q", Q_SPLIT, Q_LEN), ("t", T_SPLIT, T_LEN)):
        start = sum(split[:rank])
        rows = slice(start, start + split[rank])
        length = max(lengths[rows])
        out[f"x{side}"] = full[f"x{side}"][rows, :length]
        out[f"m{side}"] = full[f"m{side}"][rows, :length]
        out[f"{side}id"] = full[f"{side}id"][rows]
    return out


class TinyEncoder(nn.Module):
    """Token states ``linear(x)`` [N, L, D] and their masked mean [N, D], for queries and targets."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(D_IN, D, dtype=torch.float64)

    def forward(self, xq, mq, xt, mt):
        out = []
        for x, m in ((xq, mq), (xt, mt)):
            tokens = self.linear(x)
            pooled = (tokens * m[..., None]).sum(1) / m.sum(1, keepdim=True)
            out += [pooled, tokens]
        return tuple(out)


def pos_mask(qid: torch.Tensor, tid: torch.Tensor) -> torch.Tensor:
    """[Nq, Nt] bool: True where (qid[i], tid[j]) is in EDGES."""
    return ((qid[:, None, None] == EDGES[:, 0]) & (tid[None, :, None] == EDGES[:, 1])).any(-1)


def step(encoder: nn.Module, batch: dict[str, torch.Tensor], head: str, gather: bool) -> dict:
    """Encode, (gather), score, m2m_infonce, backward; the loss and the gradients of ``linear``."""
    qp, qt, tp, tt = encoder(batch["xq"], batch["mq"], batch["xt"], batch["mt"])
    if head == "cosine":  # a pooled-only head: Embeddings without tokens
        q, t = Embeddings(qp), Embeddings(tp)
    else:
        q, t = Embeddings(qp, qt, batch["mq"]), Embeddings(tp, tt, batch["mt"])
    qid, tid = batch["qid"], batch["tid"]
    if gather:
        q, t, qid, tid = gather_embeddings(q), gather_embeddings(t), gather_ids(qid), gather_ids(tid)
    loss = m2m_infonce(HEADS[head](q, t), pos_mask(qid, tid), TAU)
    loss.backward()
    linear = encoder.module.linear if isinstance(encoder, nn.parallel.DistributedDataParallel) else encoder.linear
    return {
        "loss": loss.detach(),
        "weight_grad": linear.weight.grad.clone(),
        "bias_grad": linear.bias.grad.clone(),
        "q_pooled": q.pooled.detach(),
        "qid": qid,
        "tid": tid,
    }


def _worker(rank: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    # A file rendezvous: no free-port race with other processes on the machine.
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/rendezvous", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=30))
    try:
        batch, results = local_batch(rank), {}
        for head in HEADS:
            ddp = nn.parallel.DistributedDataParallel(TinyEncoder())
            results[head] = step(ddp, batch, head, gather=True)
        # Variable length down to empty: rank 0 sends nothing, rank 1 sends [0, 1, 2].
        results["ids_uneven"] = gather_ids(torch.arange(3 * rank, dtype=torch.int64))
        raw = gather_embeddings(Embeddings(batch["xt"][:, 0], batch["xt"], batch["mt"]))  # no grad needed
        results["raw_tokens"], results["raw_mask"] = raw.tokens, raw.mask
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
        dist.barrier()  # no rank tears gloo down while the other still has work in flight
    finally:
        dist.destroy_process_group()


def test_two_ranks_match_single_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    close = dict(rtol=0.0, atol=1e-6)
    for head in HEADS:
        single = step(TinyEncoder(), global_batch(), head, gather=False)
        for r, res in enumerate(ranks):
            res = res[head]
            # (c) ids in rank order; the gathered embeddings are the global batch's.
            assert torch.equal(res["qid"], Q_IDS) and torch.equal(res["tid"], T_IDS), (head, r)
            torch.testing.assert_close(res["q_pooled"], single["q_pooled"], **close)
            # (a) every rank's loss is the single-process loss on the global batch.
            torch.testing.assert_close(res["loss"], single["loss"], **close)
            # (b) after DDP's averaging, the gradient is the single-process one (no 1/W, no W too many).
            torch.testing.assert_close(res["weight_grad"], single["weight_grad"], **close)
            torch.testing.assert_close(res["bias_grad"], single["bias_grad"], **close)
    for res in ranks:
        assert torch.equal(res["ids_uneven"], torch.tensor([0, 1, 2]))
        # Tokens padded to the longest rank (L 3 -> 5) with zero vectors and mask False.
        full = global_batch()
        assert torch.equal(res["raw_mask"], full["mt"])
        assert torch.equal(res["raw_tokens"], full["xt"].masked_fill(~full["mt"][..., None], 0.0))


def test_not_distributed_is_identity() -> None:
    assert not dist.is_initialized()
    q = Embeddings(torch.randn(3, D), torch.randn(3, 2, D), torch.ones(3, 2, dtype=torch.bool))
    assert gather_embeddings(q) is q
    assert gather_embeddings(Embeddings(q.pooled)).pooled is q.pooled
    ids = torch.arange(4)
    assert gather_ids(ids) is ids
