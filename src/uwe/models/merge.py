"""Merge models fine-tuned from one backbone into one export folder (``uwe merge``).

Two methods, as pure functions on state dicts (``{tensor name: tensor}``):

- :func:`average_state_dicts`: uniform weight averaging, ``theta = (1/n) sum_i theta_i`` (model soups,
  Wortsman et al., 2022);
- :func:`task_arithmetic`: ``theta = theta_base + scale * sum_i (theta_i - theta_base)`` (Ilharco et al., 2023,
  "Editing models with task arithmetic"); ``scale = 1/n`` is averaging again, and the paper tunes it in 0.3..1.0.

:func:`merge_models` wires them: it loads train.py checkpoints or export folders, checks that they share one
backbone (tensor names, shapes and dtypes, model config, tokenizer) and one head and encoder setting, merges
the encoders' parameters (and the heads', when the head has any) and writes an export folder
(:func:`uwe.models.export.export_model`) whose ``uwe_head.json`` metadata records the merge.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import torch

from uwe.errors import UserError
from uwe.models.checkpoint import load_checkpoint
from uwe.files import sha256_of
from uwe.models.encoder import TextEncoder
from uwe.models.export import HEAD_CONFIG, HEAD_WEIGHTS, export_model, load_exported
from uwe.models.heads import ScoringHead
from uwe.models.registry import config_kwargs

METHODS = ("average", "task_arithmetic")
# Model-config keys that name where a model came from, not what it computes.
CONFIG_PROVENANCE = {"_name_or_path", "transformers_version", "architectures", "torch_dtype", "dtype"}

State = dict[str, torch.Tensor]


def check_same_tensors(states: list[State], names: list[str] | None = None) -> None:
    """ValueError unless every state dict has the first one's tensor names, shapes and dtypes.

    The message names the first mismatching tensor (in the first state dict's order) and the model it is in,
    ``names[i]`` (a file; default ``model i``).
    """
    names = names or [f"model {i}" for i in range(len(states))]
    if not states:
        raise UserError("nothing to merge: no model given")
    first = states[0]
    for name, state in zip(names[1:], states[1:]):
        for key, ref in first.items():
            if key not in state:
                raise UserError(f"{name} has no tensor {key!r} (which {names[0]} has): models merged must "
                                 "share one backbone")
            got = state[key]
            if got.shape != ref.shape or got.dtype != ref.dtype:
                raise UserError(f"tensor {key!r} of {name} is {tuple(got.shape)} {got.dtype}, but "
                                 f"{tuple(ref.shape)} {ref.dtype} in {names[0]}: models merged must share one backbone")
        extra = [key for key in state if key not in first]
        if extra:
            raise UserError(f"{name} has tensor {extra[0]!r} that {names[0]} lacks ({len(extra)} such): models "
                             "merged must share one backbone")


def _check_equal_integers(key: str, tensors: list[torch.Tensor], names: list[str]) -> None:
    # Integer and bool tensors (ids, masks) are not weights: they must agree, never be averaged.
    for name, tensor in zip(names[1:], tensors[1:]):
        if not torch.equal(tensor, tensors[0]):
            raise UserError(f"non-float tensor {key!r} of {name} differs from {names[0]}'s; it cannot be merged")


def average_state_dicts(states: list[State], names: list[str] | None = None) -> State:
    """Uniform average of state dicts: ``out[k] = (1/n) sum_i states[i][k]``.

    Args:
        states: n >= 1 state dicts with the same tensor names, shapes and dtypes (:func:`check_same_tensors`).
        names: what each state dict is (files), for error messages.

    Returns:
        A new state dict in the first one's key order and dtypes. Float tensors are summed in float64, so
        averaging copies of one model returns it exactly; non-float tensors must be equal and are kept.

    Examples:
        (1 + 3) / 2 = 2, (2 + 2) / 2 = 2, (3 + 1) / 2 = 2, (4 + 0) / 2 = 2:

        >>> average_state_dicts([{"w": torch.tensor([[1.0, 2.0], [3.0, 4.0]])},
        ...                      {"w": torch.tensor([[3.0, 2.0], [1.0, 0.0]])}])
        {'w': tensor([[2., 2.],
                [2., 2.]])}
    """
    names = names or [f"model {i}" for i in range(len(states))]
    check_same_tensors(states, names)
    out = {}
    for key, ref in states[0].items():
        tensors = [s[key].detach() for s in states]
        if not ref.is_floating_point():
            _check_equal_integers(key, tensors, names)
            out[key] = ref.detach().clone()
            continue
        total = torch.zeros(ref.shape, dtype=torch.float64, device=ref.device)
        for t in tensors:
            total += t.to(torch.float64)
        out[key] = (total / len(tensors)).to(ref.dtype)
    return out


def task_arithmetic(base: State, states: list[State], scale: float = 1.0, names: list[str] | None = None,
                    base_name: str = "base") -> State:
    """``out[k] = base[k] + scale * sum_i (states[i][k] - base[k])``: the base plus the scaled sum of task vectors.

    Args:
        base: the backbone every state dict was fine-tuned from.
        states: n >= 1 fine-tuned state dicts with the base's tensor names, shapes and dtypes.
        scale: lambda; 1.0 adds every task vector whole, ``1/n`` gives :func:`average_state_dicts`, 0 the base.
        names, base_name: what each state dict and the base are (files), for error messages.

    Returns:
        A new state dict in the base's key order and dtypes, computed in float64, where the difference of two
        float32 weights of similar size is exact: one model at scale 1 comes back unchanged, scale 0 gives the
        base. Non-float tensors must be equal everywhere and are kept.

    Examples:
        Base 1, fine-tuned 2 and 4, scale 0.5: 1 + 0.5 * ((2 - 1) + (4 - 1)) = 3.

        >>> task_arithmetic({"w": torch.tensor([1.0])}, [{"w": torch.tensor([2.0])}, {"w": torch.tensor([4.0])}], 0.5)
        {'w': tensor([3.])}
    """
    names = names or [f"model {i}" for i in range(len(states))]
    if not states:
        raise UserError("nothing to merge: no model given")
    check_same_tensors([base, *states], [base_name, *names])
    out = {}
    for key, ref in base.items():
        tensors = [s[key].detach() for s in states]
        if not ref.is_floating_point():
            _check_equal_integers(key, [ref.detach(), *tensors], [base_name, *names])
            out[key] = ref.detach().clone()
            continue
        theta_base = ref.detach().to(torch.float64)
        delta = torch.zeros_like(theta_base)
        for t in tensors:
            delta += t.to(torch.float64) - theta_base
        out[key] = (theta_base + scale * delta).to(ref.dtype)
    return out


# Loading and checking the models --------------------------------------------------------------------------

@dataclass
class MergeInput:
    """One model to merge (or the base): its encoder, its head when it has one, and what to record of it."""

    source: str
    encoder: TextEncoder
    head: ScoringHead | None
    head_name: str | None
    head_kwargs: dict | None
    record: dict


def _folder_weights_sha256(folder: Path) -> str | None:
    weights = folder / "model.safetensors"
    return sha256_of(weights) if weights.is_file() else None


def load_input(source: str | Path, allow_encoder: bool = False) -> MergeInput:
    """A train.py checkpoint (``.ckpt``) or an export folder (with ``uwe_head.json``); with ``allow_encoder``
    (the base of task arithmetic) also an encoder name (``minilm``, ``tiny``...) or a plain model folder."""
    source = str(source)
    path = Path(source).expanduser()
    if path.suffix == ".ckpt":
        encoder, head, hparams = load_checkpoint(path)
        record = {"path": str(path.resolve()), "kind": "checkpoint", "sha256": sha256_of(path),
                  "task_mix": list(hparams.get("graphs") or {})}
        return MergeInput(source, encoder, head, hparams["head"]["name"], config_kwargs(hparams["head"]), record)
    if (path / HEAD_CONFIG).is_file():
        encoder, head, config = load_exported(path)
        record = {"path": str(path.resolve()), "kind": "export", "sha256": _folder_weights_sha256(path)}
        if "task_mix" in config["metadata"]:
            record["task_mix"] = config["metadata"]["task_mix"]
        return MergeInput(source, encoder, head, config["head"], dict(config["head_kwargs"]), record)
    if not allow_encoder:
        raise UserError(f"{source} is neither a train.py checkpoint (.ckpt) nor a uwe export folder (with "
                         f"{HEAD_CONFIG}); a zero-shot encoder (name or plain model folder) can only be the "
                         "--base of task_arithmetic")
    encoder = TextEncoder.from_name(source)
    if path.is_dir():
        record = {"path": str(path.resolve()), "kind": "folder", "sha256": _folder_weights_sha256(path)}
    else:
        record = {"name": source, "kind": "encoder"}
    return MergeInput(source, encoder, None, None, None, record)


def _model_config(encoder: TextEncoder) -> dict:
    return {k: v for k, v in encoder.model.config.to_dict().items() if k not in CONFIG_PROVENANCE}


def _tokenizer_signature(encoder: TextEncoder) -> dict:
    tokenizer = encoder.tokenizer
    return {"class": type(tokenizer).__name__, "vocab": tokenizer.get_vocab(),
            "special_tokens": tokenizer.all_special_tokens,
            "do_lower_case": tokenizer.init_kwargs.get("do_lower_case")}


def _first_difference(a: dict, b: dict) -> str:
    key = next(k for k in sorted(set(a) | set(b), key=str) if a.get(k, "<missing>") != b.get(k, "<missing>"))
    if isinstance(a.get(key), dict):  # the vocabulary: too long to show
        return f"{key} differs"
    return f"{key}: {a.get(key, '<missing>')!r} vs {b.get(key, '<missing>')!r}"


def check_same_backbone(ref: MergeInput, other: MergeInput) -> None:
    """ValueError unless both have the same model config (provenance keys aside) and the same tokenizer."""
    for what, get in (("model config", _model_config), ("tokenizer", _tokenizer_signature)):
        a, b = get(ref.encoder), get(other.encoder)
        if a != b:
            raise UserError(f"{ref.source} and {other.source} have different {what}s ({_first_difference(a, b)}): "
                             "models merged must share one backbone")


def check_same_setup(ref: MergeInput, other: MergeInput) -> None:
    """ValueError unless both score alike: same head kind and settings, pooling, max_length and keep_tokens."""
    if (ref.head_name, ref.head_kwargs) != (other.head_name, other.head_kwargs):
        raise UserError(f"heads differ: {ref.source} has {ref.head_name} {ref.head_kwargs}, {other.source} has "
                         f"{other.head_name} {other.head_kwargs}; merge models with the same head and settings")
    for setting in ("pooling", "max_length", "keep_tokens"):
        a, b = getattr(ref.encoder, setting), getattr(other.encoder, setting)
        if a != b:
            raise UserError(f"encoder {setting} differs: {ref.source} has {a!r}, {other.source} has {b!r}")


def _head_state(model: MergeInput) -> State:
    return model.head.state_dict() if model.head is not None else {}


def merge_models(sources: list[str | Path], out_dir: str | Path, method: str = "average", scale: float | None = None,
                 base: str | Path | None = None, overwrite: bool = False) -> Path:
    """Merge checkpoints or export folders fine-tuned from one backbone into the export folder ``out_dir``.

    Args:
        sources: train.py ``.ckpt`` files or export folders (``uwe export``), with identical tensor names and
            shapes, model config and tokenizer, and the same head (kind and settings), pooling and max_length.
        out_dir: the export folder to write (see :func:`uwe.models.export.export_model`).
        method: ``average`` (uniform weight averaging; at least two models) or ``task_arithmetic``.
        scale: task_arithmetic's lambda (default 1.0); not allowed with ``average``.
        base: task_arithmetic's backbone, the model every source was fine-tuned from: an encoder name
            (``minilm``, ``mpnet``, ``tiny``), a model folder, an export folder or a checkpoint.
        overwrite: replace a non-empty ``out_dir``.

    A head with parameters is merged like the encoder; under task arithmetic its base is the base's head,
    so the base must then be a checkpoint or an export with the same head. The ``uwe_head.json`` metadata
    records ``{"merge": {"method", "scale", "base", "inputs"}}``, each input with its path, kind, sha256 (of
    the ``.ckpt`` file or of the folder's ``model.safetensors``) and task mix when known.
    """
    if method not in METHODS:
        raise UserError(f"unknown merge method {method!r}; valid: {', '.join(METHODS)}")
    sources = [str(s) for s in sources]
    if method == "average":
        if scale is not None or base is not None:
            raise UserError("--scale and --base apply to --method task_arithmetic only; average is uniform")
        if len(sources) < 2:
            raise UserError(f"averaging needs at least two models, got {len(sources)}")
    else:
        if base is None:
            raise UserError("task_arithmetic needs --base: the backbone the models were fine-tuned from "
                             "(e.g. minilm, a model folder or a checkpoint)")
        if not sources:
            raise UserError("task_arithmetic needs at least one model")
        scale = 1.0 if scale is None else float(scale)

    models = [load_input(s) for s in sources]
    ref = models[0]
    for model in models[1:]:
        check_same_backbone(ref, model)
        check_same_setup(ref, model)
    names = [m.source for m in models]
    encoder_states = [m.encoder.model.state_dict() for m in models]
    head_states = [_head_state(m) for m in models]
    merge = {"method": method, "scale": scale, "base": None, "inputs": [m.record for m in models]}

    if method == "average":
        encoder_state = average_state_dicts(encoder_states, names)
        head_state = average_state_dicts(head_states, names)
    else:
        backbone = load_input(base, allow_encoder=True)
        check_same_backbone(ref, backbone)
        merge["base"] = backbone.record
        encoder_state = task_arithmetic(backbone.encoder.model.state_dict(), encoder_states, scale, names,
                                        backbone.source)
        head_state = {}
        if head_states[0]:
            if (backbone.head_name, backbone.head_kwargs) != (ref.head_name, ref.head_kwargs):
                raise UserError(f"head {ref.head_name} {ref.head_kwargs} of {ref.source} has parameters, so "
                                 f"task_arithmetic needs the base's head of the same kind and settings; the base "
                                 f"{backbone.source} has {backbone.head_name} {backbone.head_kwargs}")
            head_state = task_arithmetic(_head_state(backbone), head_states, scale, names, backbone.source)

    ref.encoder.model.load_state_dict(encoder_state)
    if ref.head is not None and head_state:
        ref.head.load_state_dict(head_state)
    return export_model(ref.encoder, ref.head_name, ref.head_kwargs, Path(out_dir), metadata={"merge": merge},
                        overwrite=overwrite, head=ref.head)


def eval_command(folder: str | Path) -> str | None:
    """The ``python eval.py`` command that evaluates export ``folder`` with its own pooling, max_length and head.

    eval.py builds its head from the config, so a head with parameters (``uwe_head.safetensors``) cannot be
    evaluated this way: None then (``Ranker.from_pretrained(folder)`` loads it). Every built-in head has none.
    """
    folder = Path(folder).resolve()
    if (folder / HEAD_WEIGHTS).is_file():
        return None
    config = json.loads((folder / HEAD_CONFIG).read_text())
    overrides = ["encoder=hf", f"encoder.name={folder}", f"encoder.max_length={config['max_length']}",
                 f"pooling={config['pooling']}", f"head={config['head']}"]
    overrides += [f"++head.{k}={json.dumps(v)}" for k, v in config["head_kwargs"].items()]
    return " ".join(["python", "eval.py", *map(shlex.quote, overrides)])
