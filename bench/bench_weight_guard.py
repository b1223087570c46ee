"""Time the non-finite weight guard that follows every optimizer step, against the step it guards.

    python bench/bench_weight_guard.py [--encoder minilm] [--batch 32] [--repeats 5]

The guard (``UWEModule.non_finite_parameters``) is one fused norm over every weight plus one device sync.
The step: tokenise ``batch`` short title/skill pairs, forward both sides, cosine InfoNCE, backward, AdamW
step. Target: guard <= 1% of a step.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch's OpenMP starts

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from uwe.train.module import UWEModule  # noqa: E402

TARGET = 0.01


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", default="minilm")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    module = UWEModule(encoder={"name": args.encoder, "max_length": 32}, pooling={"name": "mean"},
                       head={"name": "cosine"}, loss={"name": "infonce"}, graphs={"g": {"alpha": 1.0, "tau": 0.05}},
                       optimizer={"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 2e-5}).train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=2e-5)
    left = [f"job title number {i}" for i in range(args.batch)]
    right = [f"skill number {i} of that job" for i in range(args.batch)]

    def step() -> None:
        a, b = module._embed(left).pooled, module._embed(right).pooled
        loss = F.cross_entropy(F.normalize(a) @ F.normalize(b).T / 0.05, torch.arange(len(left)))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up: AdamW's state, the allocator
    n_weights = sum(p.numel() for p in module.parameters())
    step_s = median_seconds(step, args.repeats)
    guard_s = median_seconds(module.non_finite_parameters, args.repeats * 4)
    share = guard_s / step_s
    print(f"{args.encoder}: {n_weights / 1e6:.1f}M weights, {torch.get_num_threads()} threads")
    print(f"step  {step_s * 1e3:9.2f} ms (median of {args.repeats})")
    print(f"guard {guard_s * 1e3:9.2f} ms (median of {args.repeats * 4}) = {share:.2%} of a step "
          f"({'within' if share <= TARGET else 'over'} the {TARGET:.0%} target)")


if __name__ == "__main__":
    main()
