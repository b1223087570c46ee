"""A train.py checkpoint read for inference with torch, transformers and safetensors alone: no Lightning, no Hydra.

``train.py`` writes Lightning checkpoints: a ``torch.save`` dict of plain data and tensors. Inference needs two
of its entries (the rest, optimizer and loop states, only resume training):

- ``hyper_parameters``: the arguments of :class:`uwe.train.module.UWEModule`: ``encoder`` (``{name, max_length,
  ...}``), ``pooling`` (``{name}``), ``head`` (``{name, **kwargs}``), ``graphs`` (the task mix), ...;
- ``state_dict``: the module's tensors: ``encoder.model.*`` (the Hugging Face model), ``head.*`` (a head with
  parameters) and ``loss_fn.*`` (a loss's buffers, which scoring never needs).

The file is read with ``torch.load(weights_only=True)``: one holding any other object is refused, never
unpickled. A missing file is a ``FileNotFoundError``; a damaged or foreign file, or one whose weights are NaN
or infinite, a :class:`~uwe.errors.CheckpointError` naming it and the fix (exit status 2 at every entry point).

Example:
    >>> encoder, head, hparams = load_checkpoint("outputs/cpu_long/latest/checkpoints/last.ckpt")  # doctest: +SKIP
    >>> head.score_chunked(encoder.encode(["baker"]), encoder.encode(["bake bread", "python"]))   # doctest: +SKIP
    tensor([[0.71, 0.12]])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from uwe.errors import CheckpointError
from uwe.models.encoder import TextEncoder
from uwe.models.export import export_model
from uwe.models.heads import HEADS, ScoringHead
from uwe.models.views import trained_views
from uwe.models.registry import config_kwargs

FIX = "pass a .ckpt written by train.py (a run's checkpoints/ folder), or copy it again"
# hyper_parameters entries that building the scoring model reads, each a dict with a "name".
MODEL_HPARAMS = ("encoder", "pooling", "head")


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds, checked: its path, the module's hyperparameters, its tensors and the file's
    other top-level entries (``global_step``, ``uwe_val_history``, ...)."""

    path: Path
    hparams: dict
    state_dict: dict[str, torch.Tensor]
    entries: dict


def model_name(path: Path) -> str:
    """``uwe-<stem>-<stamp>``: the name a checkpoint's encoder gets, stamped with the file's absolute path and
    modification time. Target-space caches are per model name, so a trained model never meets the zero-shot
    encoder's caches, and a retrained file under the same path gets fresh ones."""
    stamp = hashlib.sha256(f"{path.resolve()}:{path.stat().st_mtime_ns}".encode()).hexdigest()[:10]
    return f"uwe-{path.stem}-{stamp}"


def _damaged(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is not a uwe checkpoint or is damaged ({reason[:200]}); {FIX}")


def _check_layout(path: Path, raw: object) -> None:
    """A :class:`CheckpointError` unless ``raw`` has the entries a UWE model is built from."""
    if not isinstance(raw, dict):
        raise _damaged(path, f"it holds a {type(raw).__name__}, not a checkpoint dict")
    missing = [key for key in ("hyper_parameters", "state_dict") if not isinstance(raw.get(key), dict)]
    if missing:
        raise _damaged(path, f"it has no {' and no '.join(missing)}")
    hparams, state = raw["hyper_parameters"], raw["state_dict"]
    for key in MODEL_HPARAMS:
        if not isinstance(hparams.get(key), dict) or not isinstance(hparams[key].get("name"), str):
            raise _damaged(path, f"its hyper_parameters have no {key} {{name, ...}}")
    if not isinstance(hparams["encoder"].get("max_length"), int):
        raise _damaged(path, "its hyper_parameters have no encoder max_length")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise _damaged(path, "its state_dict holds something other than named tensors")


def non_finite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of ``state`` whose norm is not finite: a NaN, an infinity, or values
    so large (1e19 and up) that their squares overflow, as training's weight guard counts them. One fused
    norm over all of them; the tensors are named only when it is not finite.

    >>> non_finite_tensors({"a": torch.ones(2), "b": torch.tensor([1.0, float("nan")]), "n": torch.arange(2)})
    ['b']
    """
    floats = [(n, t) for n, t in state.items() if t.is_floating_point()]
    if not floats or bool(torch.isfinite(torch.nn.utils.get_total_norm([t for _, t in floats]))):
        return []
    return [n for n, t in floats if not bool(torch.isfinite(torch.linalg.vector_norm(t)))] or ["(their sum)"]


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The checked contents of a train.py checkpoint, its tensors on the CPU.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: not a torch file, a torch file that is no uwe checkpoint, one holding objects other
            than tensors and plain data (refused unread), or one with NaN or infinite weights.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; pass the .ckpt written by train.py (checkpoints/)")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- torch, zipfile and pickle each raise their own for a bad file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights_only" in str(err) or "Unpickl" in type(err).__name__:
            reason = "it holds objects other than tensors and plain data, which are not loaded for safety"
        raise _damaged(path, reason) from err
    _check_layout(path, raw)
    bad = non_finite_tensors(raw["state_dict"])
    if bad:
        raise CheckpointError(
            f"checkpoint {path} holds {len(bad)} NaN or infinite weight tensor(s) (e.g. {', '.join(bad[:3])}): "
            "it was saved after training diverged and cannot score; pass an earlier checkpoint of that run "
            "(checkpoints/best-<step>.ckpt), or retrain with a lower optimizer.lr"
        )
    entries = {k: v for k, v in raw.items() if k not in ("hyper_parameters", "state_dict")}
    return Checkpoint(path, raw["hyper_parameters"], raw["state_dict"], entries)


def load_state(checkpoint: Checkpoint, module: nn.Module, prefix: str = "") -> None:
    """Load the tensors of ``checkpoint`` under ``prefix`` (``"encoder."``; ``""``: all) into ``module``, every
    one of them and nothing else (strict), or a :class:`CheckpointError` naming the file."""
    state = {k[len(prefix):]: v for k, v in checkpoint.state_dict.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        reason = " ".join(str(err).split())
        raise CheckpointError(f"checkpoint {checkpoint.path} does not fit the model its hyper_parameters describe "
                              f"({reason[:200]}); {FIX}") from err


def build_model(checkpoint: Checkpoint) -> tuple[TextEncoder, ScoringHead]:
    """The encoder and head of ``checkpoint`` with its weights, on the CPU, in eval mode; the encoder is named
    :func:`model_name`. Built exactly as :class:`uwe.train.module.UWEModule` builds them: the head from its
    config, then the encoder by name, keeping token states when the head needs them."""
    hp = checkpoint.hparams
    head = HEADS.from_config(hp["head"])
    encoder = TextEncoder.from_name(hp["encoder"]["name"], max_length=hp["encoder"]["max_length"],
                                    pooling=hp["pooling"]["name"], keep_tokens=head.needs_tokens)
    load_state(checkpoint, encoder, "encoder.")
    load_state(checkpoint, head, "head.")
    encoder.name = model_name(checkpoint.path)
    encoder.trained_views = trained_views(hp.get("matryoshka"), encoder.dim, encoder.num_layers)
    return encoder.eval(), head.eval()


def load_checkpoint(path: str | Path) -> tuple[TextEncoder, ScoringHead, dict]:
    """The encoder, the head and the hyperparameters of a train.py checkpoint (see :func:`read_checkpoint`)."""
    checkpoint = read_checkpoint(path)
    encoder, head = build_model(checkpoint)
    return encoder, head, checkpoint.hparams


def export_trained(encoder: TextEncoder, head: ScoringHead, hparams: dict, out_dir: str | Path, checkpoint: str,
                   overwrite: bool = False, onnx: bool = False) -> Path:
    """Write a checkpoint's model to an export folder (:func:`uwe.models.export.export_model`, with its ONNX
    files when ``onnx``), recording the checkpoint's path, task mix and, when it trained 2D Matryoshka views, their
    widths and depths (:func:`uwe.models.views.trained_views`) in its metadata; return the folder. An encoder
    cut to a view (:meth:`~uwe.models.encoder.TextEncoder.set_view`) is written as that view."""
    metadata = {"checkpoint": checkpoint, "task_mix": list(hparams.get("graphs") or {})}
    views = trained_views(hparams.get("matryoshka"), *encoder.full_shape)
    if views is not None:
        metadata["matryoshka"] = views
    return export_model(encoder, hparams["head"]["name"], config_kwargs(hparams["head"]), Path(out_dir),
                        metadata=metadata, overwrite=overwrite, head=head, onnx=onnx)
