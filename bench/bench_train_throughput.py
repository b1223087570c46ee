"""Training throughput: texts per second of a full step (forward, backward, optimiser step).

    python bench/bench_train_throughput.py [--nodes 64] [--repeats 6] [--head cosine]

Two copies of the default recipe (MiniLM, mean pooling, m2m InfoNCE, every default graph, ``--nodes``
right nodes per graph) start from the same weights and train on the same batches (the same seeded steps):

- ``plain``: the path before packing: fp32, two padded encoder passes per graph, tokenising in the step;
- ``default``: what ``train.py`` now does: graphs tokenised once, one length-sorted packed pass over all
  graphs' texts per step, bf16 autocast where the CPU computes bf16 natively (``trainer.precision=auto``).

Steps alternate (plain, default, plain, ...) after a warm-up so load drifts hit both alike. A step's texts
are every graph's left and right texts. The last line is ``speedup X.XX`` (default / plain texts per second,
medians). Target: >= 2.0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch's OpenMP starts

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from uwe.data.catalog import Catalog  # noqa: E402
from uwe.data.mix import load_mix  # noqa: E402
from uwe.train.precision import resolve_precision  # noqa: E402
from uwe.train.run import build_module  # noqa: E402

CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conf")
WARMUP = 2
TARGET = 2.0


def make_side(cfg, mix, packed: bool):
    """A module (train mode) with its own AdamW, its batches packed or plain."""
    torch.manual_seed(0)
    module = build_module(cfg, mix)
    module.hparams.batch["packed"] = packed
    module.attach(mix, [])
    optimizer = torch.optim.AdamW(module.parameters(), lr=cfg.optimizer.lr)
    return module, optimizer


def step(module, optimizer, batch, bf16: bool) -> float:
    """One training step as Lightning runs it (autocast around the forward and the loss); returns the loss."""
    autocast = torch.autocast("cpu", torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        embedded = module.embed_step(batch)
        loss = sum(module.hparams.graphs[n]["alpha"] * module.graph_loss(n, b, embedded[n]) for n, b in batch.items())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def alternate_steps(sides: dict, steps: int) -> dict[str, list[tuple[int, float, float]]]:
    """Train every side ``steps`` steps, alternating sides step by step so load drifts hit all alike.

    ``sides``: name -> (module, optimizer, bf16). Returns name -> per step (texts, seconds, loss); a step's time
    includes building its batch (tokenising on the plain path, packing ids on the default one)."""
    out: dict[str, list[tuple[int, float, float]]] = {name: [] for name in sides}
    for i in range(steps):
        for name, (module, optimizer, bf16) in sides.items():
            start = time.perf_counter()
            batch = module._batches[i]
            texts = sum(len(b.left) + len(b.right) for b in batch.values())
            loss = step(module, optimizer, batch, bf16)
            out[name].append((texts, time.perf_counter() - start, loss))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=64, help="right nodes per graph per step (train.yaml's batch.nodes)")
    p.add_argument("--repeats", type=int, default=6, help="timed steps per side, after the warm-up")
    p.add_argument("--head", default="cosine", help="cosine, or soft_li (then pooling=tokens)")
    args = p.parse_args()

    overrides = [f"batch.nodes={args.nodes}", f"head={args.head}", "logger=none", "paths.output_dir=unused"]
    overrides += ["pooling=tokens"] if args.head in ("soft_li", "maxsim") else []
    with initialize_config_dir(config_dir=os.path.abspath(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    catalog = Catalog.from_config(cfg.data)
    from omegaconf import OmegaConf

    mix = load_mix(catalog, OmegaConf.to_container(cfg.task_mix.graphs))
    bf16 = resolve_precision("auto", "cpu") == "bf16-mixed"
    sides = {"plain": (*make_side(cfg, mix, packed=False), False), "default": (*make_side(cfg, mix, packed=True), bf16)}

    done = alternate_steps(sides, WARMUP + args.repeats)
    rates = {name: [t / sec for t, sec, _ in steps[WARMUP:]] for name, steps in done.items()}
    losses = {name: [loss for _, _, loss in steps] for name, steps in done.items()}

    print(f"MiniLM, head {args.head}, {len(mix)} graphs x {args.nodes} nodes; torch threads {torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; {WARMUP} warm-up + {args.repeats} timed steps per side")
    print(f"default precision: {'bf16-mixed' if bf16 else '32-true'} (trainer.precision=auto on this CPU)")
    for name in sides:
        r = rates[name]
        print(f"{name:8s} median {statistics.median(r):7.1f} texts/s  (min {min(r):.1f}, max {max(r):.1f}); "
              f"first/last loss {losses[name][0]:.4f} / {losses[name][-1]:.4f}")
    speedup = statistics.median(rates["default"]) / statistics.median(rates["plain"])
    print(f"target >= {TARGET:.1f}: {'met' if speedup >= TARGET else 'MISSED'}")
    print(f"speedup {speedup:.2f}")


if __name__ == "__main__":
    main()
