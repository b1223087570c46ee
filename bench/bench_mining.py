"""The cost of mined hard negatives in the contrastive stage (``mining=hard``) against the plain step.

    python bench/bench_mining.py [--nodes 128] [--negatives 1] [--pool 16] [--repeats 6]

Two copies of the cpu_long recipe (MiniLM, m2m InfoNCE, the four default graphs, ``--nodes`` right nodes per
graph, packed, bf16 where native) start from the same weights and train on the same seeded steps; one adds
``--negatives`` mined negatives per sampled left node, drawn from pools of ``--pool`` that MiniLM mined once over
every left node of every graph (the one-time cost, printed per graph). Steps alternate after a warm-up. Printed:
texts per step, texts/s and seconds per step of each side (medians), and the last line ``step time ratio X.XX``
(mined / plain seconds per step).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train_throughput import CONF, WARMUP, alternate_steps  # noqa: E402

from uwe.data.catalog import Catalog  # noqa: E402
from uwe.data.mix import load_mix  # noqa: E402
from uwe.train.mining import FalseNegativeGuard, catalog_alias_graphs, mine_negatives  # noqa: E402
from uwe.train.precision import resolve_precision  # noqa: E402
from uwe.train.run import build_module  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=128, help="right nodes per graph per step (cpu_long: 128)")
    p.add_argument("--negatives", type=int, default=1, help="mined negatives per sampled left node")
    p.add_argument("--pool", type=int, default=16, help="mined candidates kept per left node")
    p.add_argument("--repeats", type=int, default=6, help="timed steps per side, after the warm-up")
    args = p.parse_args()

    overrides = [f"batch.nodes={args.nodes}", "logger=none", "paths.output_dir=unused", "optimizer.lr=3e-5"]
    with initialize_config_dir(config_dir=os.path.abspath(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    catalog = Catalog.from_config(cfg.data)
    mix = load_mix(catalog, OmegaConf.to_container(cfg.task_mix.graphs))
    bf16 = resolve_precision("auto", "cpu") == "bf16-mixed"
    sides = {}
    for name in ("plain", "mined"):
        torch.manual_seed(0)
        module = build_module(cfg, mix)
        module.attach(mix, [])
        sides[name] = (module, torch.optim.AdamW(module.parameters(), lr=cfg.optimizer.lr))

    guard = FalseNegativeGuard([e.graph for e in mix], catalog_alias_graphs(catalog))
    module = sides["mined"][0]
    print(f"mining pools of {args.pool} with MiniLM ({'bf16' if bf16 else 'fp32'}):")
    total = 0.0
    for sampler in module._batches.samplers.values():
        start = time.perf_counter()
        sampler.mined = mine_negatives(module.encoder, module.head, sampler.graph, guard, args.pool,
                                       precision="bf16" if bf16 else "32")
        sampler.negatives = args.negatives
        seconds = time.perf_counter() - start
        total += seconds
        print(f"  {sampler.graph.name:20s} {len(sampler.graph.left):6,} left x {len(sampler.graph.right):6,} right "
              f"nodes: {seconds:6.1f} s ({len(sampler.graph.left) / seconds:,.0f} left nodes/s)")
    print(f"  all graphs: {total:.1f} s once")

    done = alternate_steps({n: (module, optimizer, bf16) for n, (module, optimizer) in sides.items()},
                           WARMUP + args.repeats)
    texts = {n: [t for t, _, _ in steps[WARMUP:]] for n, steps in done.items()}
    seconds = {n: [sec for _, sec, _ in steps[WARMUP:]] for n, steps in done.items()}
    rates = {n: [t / sec for t, sec, _ in steps[WARMUP:]] for n, steps in done.items()}
    print(f"MiniLM, {len(mix)} graphs x {args.nodes} nodes, {args.negatives} mined negative(s) per left node; torch "
          f"threads {torch.get_num_threads()}; {WARMUP} warm-up + {args.repeats} timed steps per side")
    for name in sides:
        print(f"{name:6s} {statistics.median(texts[name]):6.0f} texts/step  {statistics.median(rates[name]):7.1f} "
              f"texts/s  {statistics.median(seconds[name]):6.2f} s/step")
    ratio = statistics.median(seconds["mined"]) / statistics.median(seconds["plain"])
    print(f"texts/s ratio {statistics.median(rates['mined']) / statistics.median(rates['plain']):.2f}")
    print(f"step time ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
