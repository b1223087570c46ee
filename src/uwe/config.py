"""Config values checked before any work: a wrong type or range is a :class:`~uwe.errors.ConfigError` naming
``key=value`` and what is allowed, never a traceback from deep inside (``optimizer.lr=abc`` would otherwise
surface when the optimizer is built, after the data and the model).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from uwe.errors import ConfigError

_MISSING = object()
SPLITS = ("val", "test")
CUSTOM_KEYS = ("pairs", "targets", "drop_unknown", "query_column", "label_column")


def _get(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=_MISSING)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(cfg: DictConfig, key: str, minimum: int = 1, nullable: bool = False) -> None:
    value = _get(cfg, key)
    if value is _MISSING or (value is None and nullable):
        return
    if not _is_int(value) or value < minimum:
        allowed = f"an integer >= {minimum}" + (" or null" if nullable else "")
        raise ConfigError(f"{key}={value!r} is not valid: expected {allowed}")


def check_float(cfg: DictConfig, key: str, minimum: float, maximum: float = math.inf,
                above_minimum: bool = False) -> None:
    value = _get(cfg, key)
    if value is _MISSING:
        return
    ok = (_is_int(value) or isinstance(value, float)) and math.isfinite(value) and value <= maximum
    ok = ok and (value > minimum if above_minimum else value >= minimum)
    if not ok:
        bound = f"{'>' if above_minimum else '>='} {minimum:g}" + (f" and <= {maximum:g}" if maximum < math.inf else "")
        raise ConfigError(f"{key}={value!r} is not valid: expected a finite number {bound}")


def check_bool(cfg: DictConfig, key: str) -> None:
    value = _get(cfg, key)
    if value is not _MISSING and not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} is not valid: expected true or false")


def check_names(cfg: DictConfig, key: str) -> None:
    """``key`` is null or a list of names (``tasks=jobnorm`` would be read letter by letter)."""
    value = _get(cfg, key)
    if value is _MISSING or value is None:
        return
    if not isinstance(value, (list, ListConfig)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key}={value!r} is not valid: expected a list of names, e.g. {key}=[jobnorm,skillnorm], "
                          "or null")


def check_custom(cfg: DictConfig) -> None:
    """``custom`` is null or ``{name: {pairs: FILE, targets: FILE or null, drop_unknown: true|false}}`` (the
    files themselves are checked when read, by :func:`uwe.data.custom.custom_task`)."""
    value = _get(cfg, "custom")
    if value is _MISSING or value is None:
        return
    example = "+custom.<name>.pairs=pairs.csv +custom.<name>.targets=targets.txt"
    if not isinstance(value, DictConfig):
        raise ConfigError(f"custom={value!r} is not valid: expected task names with their files, e.g. {example}")
    for name, spec in value.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)):
            raise ConfigError(f"custom.{name} is not valid: a custom task's name has letters, digits, '_' or '-'")
        if not isinstance(spec, DictConfig) or not isinstance(spec.get("pairs"), str):
            raise ConfigError(f"custom.{name} is not valid: expected custom.{name}.pairs=FILE (.csv, .tsv or .jsonl "
                              f"with the columns query and label), e.g. {example.replace('<name>', str(name))}")
        unknown = sorted(set(spec) - set(CUSTOM_KEYS))
        if unknown:
            raise ConfigError(f"custom.{name}.{unknown[0]} is not valid: a custom task takes {', '.join(CUSTOM_KEYS)}")
        if spec.get("targets") is not None and not isinstance(spec.get("targets"), str):
            raise ConfigError(f"custom.{name}.targets={spec.get('targets')!r} is not valid: expected a file, one label "
                              "per line, or null (the labels of pairs)")
        check_bool(cfg, f"custom.{name}.drop_unknown")


def check_eval_config(cfg: DictConfig) -> None:
    """The settings eval.py (and train.py's final test) read."""
    split = _get(cfg, "split")
    if split not in SPLITS:
        raise ConfigError(f"split={split!r} is not valid: expected one of {', '.join(SPLITS)}")
    check_names(cfg, "tasks")
    check_int(cfg, "max_queries", nullable=True)
    check_bool(cfg, "force_subsample")
    check_int(cfg, "seed", minimum=0)
    check_int(cfg, "chunk")
    check_int(cfg, "score_chunk", nullable=True)
    check_bool(cfg, "refresh_cache")
    check_int(cfg, "encoder.max_length")
    check_int(cfg, "encoder.batch_size")
    check_bool(cfg, "data.use_cache")
    check_bool(cfg, "data.allow_unknown_versions")
    ckpt = _get(cfg, "ckpt_path")
    if ckpt not in (_MISSING, None) and not Path(str(ckpt)).expanduser().is_file():
        raise ConfigError(f"ckpt_path={ckpt!r} is not valid: no such file; pass a .ckpt written by train.py (a run's "
                          "checkpoints/ folder)")
    _check_view(cfg)
    backend = _get(cfg, "backend")
    if backend not in (_MISSING, "torch", "onnx", "auto"):  # onnx-int8 moves MAP by more than 0.3: not for results
        raise ConfigError(f"backend={backend!r} is not valid: expected torch, onnx or auto")
    esco = _get(cfg, "data.esco_source")
    if esco not in (_MISSING, None, "zip", "folder"):
        raise ConfigError(f"data.esco_source={esco!r} is not valid: expected zip, folder or null")
    check_custom(cfg)


def _check_view(cfg: DictConfig) -> None:
    """eval.py's ``layers`` and ``dim`` (a 2D Matryoshka view): null or integers >= 1, with model=encoder, and within
    the zero-shot encoder's depth and width when its config.json is at hand (a checkpoint's when it is loaded)."""
    from uwe.models.encoder import model_shape
    from uwe.models.views import check_view_range

    check_int(cfg, "layers", nullable=True)
    check_int(cfg, "dim", nullable=True)
    asked = {key: value for key in ("layers", "dim") if (value := _get(cfg, key)) not in (_MISSING, None)}
    if not asked:
        return
    model = _get(cfg, "model.name")
    if model not in (_MISSING, "encoder"):
        shown = ", ".join(f"{key}={value}" for key, value in asked.items())
        raise ConfigError(f"{shown} is not valid with model={model}: a view cuts an encoder (model=encoder, the "
                          "default)")
    encoder, ckpt = _get(cfg, "encoder.name"), _get(cfg, "ckpt_path")
    shape = model_shape(encoder) if isinstance(encoder, str) and ckpt in (_MISSING, None) else None
    if shape is not None:
        check_view_range(*shape, asked.get("dim"), asked.get("layers"))


def check_train_config(cfg: DictConfig) -> None:
    """Everything train.py reads before it starts, so a typo costs seconds, not a built mixture and model."""
    check_eval_config(cfg)
    check_float(cfg, "optimizer.lr", 0.0, above_minimum=True)
    check_float(cfg, "optimizer.weight_decay", 0.0)
    check_float(cfg, "warmup_ratio", 0.0, maximum=1.0)
    check_int(cfg, "batch.nodes")
    check_int(cfg, "batch.max_tokens")
    check_int(cfg, "batch.triples")
    check_int(cfg, "mining.negatives", minimum=0)
    check_int(cfg, "mining.pool")
    check_int(cfg, "mining.every_n_steps", nullable=True)
    check_int(cfg, "preferences.sources.occurrence.per_query")
    check_float(cfg, "preferences.sources.occurrence.min_prob_gap", 0.0)
    check_int(cfg, "preferences.sources.hard_negatives.k")
    check_int(cfg, "preferences.sources.hard_negatives.per_graph", nullable=True)
    negatives, pool = _get(cfg, "mining.negatives"), _get(cfg, "mining.pool")
    if _is_int(negatives) and _is_int(pool) and negatives > pool:
        raise ConfigError(f"mining.negatives={negatives} is more than mining.pool={pool}: each node's negatives are "
                          "drawn from its pool; raise mining.pool or lower mining.negatives")
    check_bool(cfg, "batch.packed")
    check_int(cfg, "val.every_n_steps")
    check_int(cfg, "save_every_n_steps", nullable=True)
    check_int(cfg, "val.max_queries", nullable=True)
    check_names(cfg, "val.tasks")
    check_bool(cfg, "val.at_start")
    check_bool(cfg, "export")
    _check_second_stage(cfg)
    _check_matryoshka(cfg)
    steps = _get(cfg, "trainer.max_steps")
    if steps is not _MISSING and (not _is_int(steps) or not (steps >= 1 or steps == -1)):
        raise ConfigError(f"trainer.max_steps={steps!r} is not valid: expected an integer >= 1 (or -1: no limit)")
    graphs = _get(cfg, "task_mix.graphs")
    for name in (graphs or {}) if isinstance(graphs, DictConfig) else ():
        if graphs[name] is None:
            continue  # dropped from the mix (leave-one-out: conf/task_mix/no_*.yaml)
        check_float(cfg, f"task_mix.graphs.{name}.alpha", 0.0, above_minimum=True)
        check_float(cfg, f"task_mix.graphs.{name}.tau", 0.0, above_minimum=True)
        check_float(cfg, f"task_mix.graphs.{name}.fraction", 0.0, 1.0, above_minimum=True)
    if isinstance(graphs, DictConfig):
        from uwe.data.mix import parse_mix  # file graphs: the name free, the file there, its format known
        parse_mix(OmegaConf.to_container(graphs))


def _check_second_stage(cfg: DictConfig) -> None:
    """A preference loss (``loss=rankpo``) needs the model it starts from, and that model must exist."""
    from uwe.models.losses import LOSSES  # torch: imported only when a train config is checked

    name, init_from = _get(cfg, "loss.name"), _get(cfg, "init_from")
    init_from = None if init_from is _MISSING else init_from
    if name in LOSSES and getattr(LOSSES[name], "triples", False) and not init_from:
        raise ConfigError(f"loss={name} is a second training stage: pass init_from=<stage-1 .ckpt or export folder>, "
                          "e.g. init_from=outputs/cpu_long/latest/checkpoints/last.ckpt")
    if init_from and not Path(str(init_from)).expanduser().exists():
        raise ConfigError(f"init_from={init_from}: no such file or folder; pass a .ckpt written by train.py "
                          "(checkpoints/) or a folder written by `uwe export`")


def _check_matryoshka(cfg: DictConfig) -> None:
    """``matryoshka``'s values (:meth:`uwe.models.matryoshka.Matryoshka.from_config`), its widths and depths against
    the encoder's when its config.json is at hand (else when the model is built), and its loss."""
    from uwe.models.encoder import model_shape
    from uwe.models.losses import LOSSES
    from uwe.models.matryoshka import Matryoshka, check_loss

    section = _get(cfg, "matryoshka")
    settings = Matryoshka.from_config(section if isinstance(section, DictConfig) else None)
    if settings is None:
        return
    loss = _get(cfg, "loss.name")
    check_loss(section.name, loss, loss in LOSSES and getattr(LOSSES[loss], "triples", False))
    encoder = _get(cfg, "encoder.name")
    shape = model_shape(str(encoder)) if isinstance(encoder, str) else None
    if shape is not None:
        settings.resolve(*shape, f"encoder {encoder}")
