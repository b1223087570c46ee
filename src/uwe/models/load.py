"""What a user names as a model (an export folder, a train.py checkpoint, an encoder name) -> encoder and head.

The one loader behind ``Ranker.from_pretrained``, ``uwe rank/serve/evaluate`` and ``uwe merge``: it needs torch,
transformers and safetensors, never Lightning or Hydra.
"""

from __future__ import annotations

from pathlib import Path

from uwe.errors import UserError
from uwe.models.checkpoint import load_checkpoint
from uwe.models.encoder import TextEncoder
from uwe.models.export import HEAD_CONFIG, load_exported
from uwe.models.heads import ScoringHead, build_head


def is_trained(path_or_name: str | Path) -> bool:
    """True for a train.py checkpoint (``.ckpt``) or an export folder (with ``uwe_head.json``): a model that
    brings its own head."""
    path = Path(path_or_name).expanduser()
    return path.suffix == ".ckpt" or (path / HEAD_CONFIG).is_file()


def load_model(path_or_name: str | Path, head: str | None = None, layers: int | None = None,
               dim: int | None = None) -> tuple[TextEncoder, ScoringHead]:
    """The encoder and head of a model, on the CPU, cut to its first ``layers`` layers and ``dim`` dimensions when
    given (:meth:`~uwe.models.encoder.TextEncoder.set_view`: out of range is a one-line error; a view the model was
    not trained for logs one warning line).

    Args:
        path_or_name: a folder written by :func:`uwe.models.export.export_model` (``uwe export``), a ``.ckpt``
            written by train.py (both bring their own head), or an encoder name for zero-shot use: ``minilm``,
            ``mpnet``, ``tiny``, a Hugging Face model folder or hub name.
        head: the head of a zero-shot encoder, by config name (default ``cosine``); an error with a trained
            model, whose head is part of it.
        layers, dim: the view (None: the full depth, width).
    """
    path = Path(path_or_name).expanduser()
    if is_trained(path):
        if head is not None:
            raise UserError(f"{path} brings its own head; head={head!r} applies to encoder names only")
        if path.suffix == ".ckpt":
            encoder, trained_head, _ = load_checkpoint(path)
        else:
            encoder, trained_head, _ = load_exported(path)
        encoder.set_view(layers, dim)
        return encoder, trained_head
    head_module = build_head(head or "cosine")
    encoder = TextEncoder.from_name(str(path_or_name), keep_tokens=head_module.needs_tokens)
    encoder.set_view(layers, dim)
    return encoder, head_module
