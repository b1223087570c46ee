"""What a run does before fit when it starts from a trained model (``init_from=``) or trains on preferences.

- :func:`attach_training_data`: the starting weights, then the module's training data: graph batches (with the
  mining guard when ``mining`` mines), or the preference triples of a preference loss.

- :func:`load_initial_weights`: the weights of a train.py checkpoint or an export folder into the module, which
  must have the same encoder and head (a clear error otherwise).
- :func:`prepare_triples`: the preference triples of ``cfg.preferences`` from the mix's graphs, hard negatives
  mined by the starting model, and the frozen reference's scores (the starting model's, computed once).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from uwe.data.catalog import Catalog
from uwe.data.leakage import test_pair_set
from uwe.data.mix import MixEntry, evaluated_tasks
from uwe.errors import UserError
from uwe.models.load import is_trained, load_model
from uwe.train.mining import FalseNegativeGuard, catalog_alias_graphs, mine_negatives
from uwe.train.module import UWEModule
from uwe.train.precision import resolve_precision
from uwe.train.preferences import (
    Triples,
    build_triples,
    hard_negative_triples,
    occurrence_triples,
    reference_scores,
)

log = logging.getLogger(__name__)


def load_initial_weights(module: UWEModule, init_from: str | Path) -> None:
    """Copy the encoder and head weights of ``init_from`` (a ``.ckpt`` of train.py or an export folder) into
    ``module``; its encoder and head must be those the run configures."""
    path = Path(str(init_from)).expanduser()
    if not is_trained(path):
        raise UserError(f"init_from={init_from}: not a train.py checkpoint (.ckpt) or an export folder (with "
                        "uwe_head.json); pass the stage-1 model, e.g. outputs/cpu_long/latest/checkpoints/last.ckpt")
    encoder, head = load_model(path)
    if type(head) is not type(module.head) or repr(head) != repr(module.head):
        raise UserError(f"init_from={init_from} was trained with the head {head!r}; this run configures "
                        f"{module.head!r}. Set head= (and pooling=) to the model's, or start from a model of this head")
    try:
        module.encoder.load_state_dict(encoder.state_dict(), strict=True)
        module.head.load_state_dict(head.state_dict(), strict=True)
    except RuntimeError as err:
        raise UserError(f"init_from={init_from} is not a {module.hparams.encoder['name']} model (its weights do not "
                        f"fit: {' '.join(str(err).split())[:160]}); set encoder= to the model's") from err
    log.info("starting from the weights of %s", path)


def _mined_triples(options: dict, mix: list[MixEntry], guard: FalseNegativeGuard, module: UWEModule, seed: int,
                   precision: str) -> Triples:
    names = options.get("graphs") or [e.graph.name for e in mix]
    graphs = {e.graph.name: e.graph for e in mix}
    unknown = [n for n in names if n not in graphs]
    if unknown:
        raise UserError(f"preferences.sources.hard_negatives.graphs names {unknown}, not graphs of this task_mix "
                        f"({', '.join(graphs)})")
    k, per_graph = int(options.get("k", 10)), options.get("per_graph")
    parts = []
    for g, name in enumerate(names):
        graph = graphs[name]
        if not 1 <= k <= len(graph.right):
            raise UserError(f"preferences.sources.hard_negatives.k={k} is not in [1, {len(graph.right)}] (graph "
                            f"{name} has {len(graph.right)} right nodes)")
        left = np.arange(len(graph.left))
        if per_graph is not None and per_graph < len(left):
            left = np.sort(np.random.default_rng([seed, g]).choice(len(left), int(per_graph), replace=False))
        mined = mine_negatives(module.encoder, module.head, graph, guard, k, left, precision=precision)
        parts.append(hard_negative_triples(graph, mined, left, seed=seed + g))
    return Triples.concat(parts)


def prepare_triples(cfg: DictConfig, catalog: Catalog, mix: list[MixEntry], module: UWEModule,
                    precision: str = "32") -> Triples:
    """The triples of ``cfg.preferences.sources``, with the reference scores of ``module``'s current weights
    (the starting model) unless the loss is reference-free."""
    sources = OmegaConf.to_container(cfg.preferences.sources, resolve=True) if cfg.get("preferences") else {}
    graphs = {e.graph.name: e.graph for e in mix}
    guard = FalseNegativeGuard(graphs.values(), catalog_alias_graphs(catalog))

    def occurrence(options: dict) -> Triples:
        if "vacancy_skill" not in graphs:
            raise UserError("the occurrence preferences need the vacancy_skill graph in task_mix (e.g. task_mix=all)")
        return occurrence_triples(catalog.raw.vacancy_grades, graphs["vacancy_skill"], int(options.get("per_query", 8)),
                                  float(options.get("min_prob_gap", 0.1)), seed=cfg.seed)

    builders = {
        "occurrence": occurrence,
        "hard_negatives": lambda options: _mined_triples(options, mix, guard, module, cfg.seed, precision),
    }
    test_tasks = [catalog.task(t, "test") for t in evaluated_tasks(list(graphs), OmegaConf.to_container(cfg.tasks)
                                                                   if cfg.tasks is not None else None)]
    triples = build_triples(sources, builders, test_pair_set(test_tasks))
    log.info("%d preference triples: %s", len(triples), triples.counts())
    if not module.loss_fn.reference_free:
        triples.reference = reference_scores(module.encoder, module.head, triples, precision=precision)
        log.info("reference scores of %d triples: chosen above rejected for %.1f%%", len(triples),
                 100 * float((triples.reference[:, 0] > triples.reference[:, 1]).float().mean()))
    return triples


def attach_training_data(cfg: DictConfig, catalog: Catalog, mix: list[MixEntry], module: UWEModule, val_tasks: list,
                         new_module) -> dict:
    """Load ``cfg.init_from`` into ``module`` (not on resume: the checkpoint has the weights), then attach its
    data; returns what the results record gains (``preferences``). ``new_module()`` builds a fresh module: on
    resume, the reference is the ``init_from`` model again, not the resumed weights."""
    if cfg.get("init_from") and not cfg.ckpt_path:
        load_initial_weights(module, cfg.init_from)
    if not module.trains_on_triples:
        alias = catalog_alias_graphs(catalog) if (cfg.get("mining") or {}).get("negatives") else None
        module.attach(mix, val_tasks, alias)
        return {}
    reference = module  # init_from is set (check_train_config)
    if cfg.ckpt_path:
        reference = new_module()
        load_initial_weights(reference, cfg.init_from)
    precision = resolve_precision(cfg.trainer.get("precision", "auto"), cfg.trainer.get("accelerator", "cpu"))
    triples = prepare_triples(cfg, catalog, mix, reference, "bf16" if str(precision).startswith("bf16") else "32")
    module.attach_preferences(triples, val_tasks)
    return {"preferences": describe(triples)}


def describe(triples: Triples) -> dict:
    """The record of a run's preferences (results.json): triples per source, drops, the reference's accuracy."""
    out = {"triples": len(triples), "by_source": triples.counts(), "dropped": dict(triples.dropped)}
    if triples.reference is not None and len(triples):
        out["reference_accuracy"] = float((triples.reference[:, 0] > triples.reference[:, 1]).float().mean())
    return out

