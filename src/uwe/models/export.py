"""Export a trained encoder and its scoring head to one folder, and load it back.

The folder is a plain sentence-transformers model (``SentenceTransformer(str(folder))`` loads it offline and
returns the encoder's pooled vectors), plus UWE's late-interaction head next to it:

- the Hugging Face model and tokenizer (``save_pretrained``) at the root;
- ``modules.json``, ``sentence_bert_config.json``, ``1_Pooling/config.json``, ``config_sentence_transformers.json``:
  a Transformer + Pooling pipeline in the long-standing format that sentence-transformers 2.x to 6.x read;
- ``uwe_head.json``: the head's name and kwargs, the encoder's pooling, max_length and keep_tokens, the uwe
  version and free metadata; ``uwe_head.safetensors``: the head's state_dict, only when it has parameters;
- an encoder cut to a view (:meth:`~uwe.models.encoder.TextEncoder.set_view`) is written as that view: a depth k
  as a k-layer model (its config says so; the ONNX files too), a width d in ``metadata.view`` (``{layers, dim,
  full_layers, full_dim}``), which :func:`load_exported` applies again. SentenceTransformer returns the
  transformer's full width: pass ``truncate_dim=d`` to it for the first d dimensions;
- with ``onnx=True`` (``uwe export --onnx``): ``model.onnx`` and ``model.int8.onnx``, the transformer for
  ONNX Runtime query encoding (:mod:`uwe.models.onnx_export`, :mod:`uwe.models.onnx_backend`).

``uwe_head.json`` also marks the folder as a uwe export: ``overwrite`` replaces a folder only when it holds
one (:func:`is_export`), so no other folder is ever deleted. An export is written in a fresh hidden folder
beside ``out_dir`` (``.<name>.uwe-export-XXXX``, from :func:`tempfile.mkdtemp`) and renamed into place: no
name a user may have picked (``<out>.tmp``, ``<out>.old``) is ever written or removed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file, save_file
from torch import nn

from uwe import __version__
from uwe.models.encoder import TextEncoder
from uwe.models.heads import ScoringHead, build_head

HEAD_CONFIG = "uwe_head.json"
HEAD_WEIGHTS = "uwe_head.safetensors"
POOLING_FOLDER = "1_Pooling"


def _write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n")


def _sentence_transformers_files(encoder: TextEncoder, folder: Path) -> None:
    """The config files that make ``folder`` a Transformer + Pooling SentenceTransformer."""
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": POOLING_FOLDER, "type": "sentence_transformers.models.Pooling"},
    ])
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": encoder.max_length, "do_lower_case": False})
    (folder / POOLING_FOLDER).mkdir()
    _write_json(folder / POOLING_FOLDER / "config.json", {
        "word_embedding_dimension": encoder.model.config.hidden_size,  # the transformer's, whatever the view
        "pooling_mode_cls_token": encoder.pooling == "cls",
        "pooling_mode_mean_tokens": encoder.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    _write_json(folder / "config_sentence_transformers.json", {
        "__version__": {"transformers": transformers.__version__, "pytorch": torch.__version__},
        "prompts": {},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })


def is_export(folder: Path) -> bool:
    """True when ``folder`` holds a ``uwe_head.json`` written by :func:`export_model` (a JSON object with the
    head's name and the uwe version): the mark of a folder that ``overwrite`` may replace."""
    try:
        config = json.loads((Path(folder) / HEAD_CONFIG).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "head" in config and "uwe_version" in config


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise FileExistsError(f"export folder {out_dir} is a file or a link; pick another path")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"export folder {out_dir} exists and is not empty; pass overwrite=True "
                              "(uwe export/merge: --overwrite) to replace it, if it is a uwe export")
    if not is_export(out_dir):
        raise FileExistsError(f"export folder {out_dir} is not a uwe export (it has no valid {HEAD_CONFIG}), so "
                              "overwrite will not replace it; pick another folder or empty it yourself")


def export_model(encoder: TextEncoder, head_name: str, head_kwargs: dict, out_dir: Path,
                 metadata: dict | None = None, overwrite: bool = False, head: nn.Module | None = None,
                 onnx: bool = False) -> Path:
    """Write ``encoder`` and the head ``head_name(**head_kwargs)`` to ``out_dir``; return ``out_dir``.

    Args:
        encoder: the encoder to export; its pooling ('mean' or 'cls') becomes the SentenceTransformer pooling.
        head_name, head_kwargs: the scoring head, as for :func:`build_head` (kwargs must be JSON values).
        out_dir: the folder to create. Everything is written to a fresh hidden folder beside it first and
            renamed into place, so ``out_dir`` never holds a half-written export.
        metadata: free JSON-serialisable facts to keep (run id, training data, scores...).
        overwrite: replace a non-empty ``out_dir`` that is a uwe export (:func:`is_export`); without it, a
            non-empty ``out_dir`` is an error, and any other non-empty folder is an error even with it.
        head: the trained head module when it has parameters (its state_dict is saved); default: a fresh
            ``build_head(head_name, **head_kwargs)``. Parameter-free heads need nothing more than their kwargs.
        onnx: also write ``model.onnx`` and ``model.int8.onnx`` (needs ``pip install "uwe[onnx]"``).
    """
    out_dir = Path(out_dir)
    _check_target(out_dir, overwrite)
    if onnx:
        from uwe.models.onnx_export import export_onnx, require_packages

        require_packages()
    head = build_head(head_name, **head_kwargs) if head is None else head
    if encoder.view_layers is not None or encoder.view_dim is not None:
        metadata = {**(metadata or {}), "view": {"layers": encoder.num_layers, "dim": encoder.dim,
                                                 "full_layers": encoder.full_shape[1], "full_dim": encoder.full_shape[0]}}
    config = json.dumps({
        "head": head_name, "head_kwargs": head_kwargs, "pooling": encoder.pooling, "max_length": encoder.max_length,
        "keep_tokens": encoder.keep_tokens, "uwe_version": __version__, "metadata": metadata or {},
    }, indent=2)  # before anything is written: a non-JSON value fails here

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.uwe-export-", dir=out_dir.parent))
    try:
        new = staging / "new"
        new.mkdir()
        encoder.model.save_pretrained(new)
        encoder.tokenizer.save_pretrained(new)
        _sentence_transformers_files(encoder, new)
        if onnx:
            export_onnx(encoder, new)
        if sum(p.numel() for p in head.parameters()) > 0:
            save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, new / HEAD_WEIGHTS)
        (new / HEAD_CONFIG).write_text(config + "\n")  # last: the mark of a whole export
        old = staging / "old" if out_dir.exists() else None
        if old is not None:
            os.replace(out_dir, old)  # checked above: empty, or a uwe export
        try:
            os.replace(new, out_dir)
        except BaseException:
            if old is not None:
                os.replace(old, out_dir)  # the previous export stays
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def export_encoder(name_or_path: str, out_dir: Path, overwrite: bool = False, onnx: bool = False,
                   layers: int | None = None, dim: int | None = None) -> Path:
    """Export an encoder name (``minilm``, ``mpnet``, a model folder; with the ``cosine`` head) or another
    export folder (with its own head and metadata) to ``out_dir``, e.g. to add its ONNX files, or cut to its first
    ``layers`` layers and ``dim`` dimensions (:meth:`~uwe.models.encoder.TextEncoder.set_view`); return ``out_dir``."""
    if is_export(Path(name_or_path).expanduser()):
        encoder, head, config = load_exported(Path(name_or_path).expanduser())
        encoder.set_view(layers, dim)
        return export_model(encoder, config["head"], config["head_kwargs"], out_dir, config["metadata"], overwrite,
                            head, onnx)
    encoder = TextEncoder.from_name(name_or_path)
    encoder.set_view(layers, dim)
    return export_model(encoder, "cosine", {}, out_dir, {"encoder": name_or_path}, overwrite, onnx=onnx)


def load_exported(path: Path) -> tuple[TextEncoder, ScoringHead, dict]:
    """The encoder, the head and the ``uwe_head.json`` config (with its metadata) of a folder from :func:`export_model`.

    A plain SentenceTransformer or Hugging Face folder has no head: use it as an encoder name instead,
    ``TextEncoder.from_name(str(path))``.
    """
    path = Path(path)
    config_file = path / HEAD_CONFIG
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{config_file} not found: {path} is not a uwe export (export_model writes {HEAD_CONFIG}). A plain "
            f"SentenceTransformer or Hugging Face folder can still serve as an encoder: TextEncoder.from_name('{path}')"
        )
    config = json.loads(config_file.read_text())
    encoder = TextEncoder.from_name(str(path), max_length=config["max_length"], pooling=config["pooling"],
                                    keep_tokens=config["keep_tokens"])
    encoder.trained_views = config["metadata"].get("matryoshka")
    view = config["metadata"].get("view") or {}
    if view.get("dim") is not None:  # the depth is the saved model's own
        encoder.set_view(dim=view["dim"], warn=False)
    head = build_head(config["head"], **config["head_kwargs"])
    if (path / HEAD_WEIGHTS).is_file():
        head.load_state_dict(load_file(path / HEAD_WEIGHTS))
    return encoder, head, config
