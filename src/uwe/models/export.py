"""Export a trained encoder and its scoring head to one folder, and load it back.

The folder is a plain sentence-transformers model (``SentenceTransformer(str(folder))`` loads it offline and
returns the encoder's pooled vectors), plus UWE's late-interaction head next to it:

- the Hugging Face model and tokenizer (``save_pretrained``) at the root;
- ``modules.json``, ``sentence_bert_config.json``, ``1_Pooling/config.json``, ``config_sentence_transformers.json``:
  a Transformer + Pooling pipeline in the long-standing format that sentence-transformers 2.x to 6.x read;
- ``uwe_head.json``: the head's name and kwargs, the encoder's pooling, max_length and keep_tokens, the uwe
  version and free metadata; ``uwe_head.safetensors``: the head's state_dict, only when it has parameters.
"""

from __future__ import annotations

import json
import os
import shutil
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
        "word_embedding_dimension": encoder.dim,
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


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"export folder {out_dir} is a file; pick another path")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"export folder {out_dir} exists and is not empty; pass overwrite=True to replace it")


def export_model(encoder: TextEncoder, head_name: str, head_kwargs: dict, out_dir: Path,
                 metadata: dict | None = None, overwrite: bool = False, head: nn.Module | None = None) -> Path:
    """Write ``encoder`` and the head ``head_name(**head_kwargs)`` to ``out_dir``; return ``out_dir``.

    Args:
        encoder: the encoder to export; its pooling ('mean' or 'cls') becomes the SentenceTransformer pooling.
        head_name, head_kwargs: the scoring head, as for :func:`build_head` (kwargs must be JSON values).
        out_dir: the folder to create. Everything is written to ``<out_dir>.tmp`` first and renamed into place,
            so ``out_dir`` never holds a half-written export.
        metadata: free JSON-serialisable facts to keep (run id, training data, scores...).
        overwrite: replace a non-empty ``out_dir``; without it, that is an error.
        head: the trained head module when it has parameters (its state_dict is saved); default: a fresh
            ``build_head(head_name, **head_kwargs)``. Parameter-free heads need nothing more than their kwargs.
    """
    out_dir = Path(out_dir)
    _check_target(out_dir, overwrite)
    head = build_head(head_name, **head_kwargs) if head is None else head
    config = json.dumps({
        "head": head_name, "head_kwargs": head_kwargs, "pooling": encoder.pooling, "max_length": encoder.max_length,
        "keep_tokens": encoder.keep_tokens, "uwe_version": __version__, "metadata": metadata or {},
    }, indent=2)  # before anything is written: a non-JSON value fails here

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # left over from an interrupted export
    tmp.mkdir(parents=True)
    try:
        encoder.model.save_pretrained(tmp)
        encoder.tokenizer.save_pretrained(tmp)
        _sentence_transformers_files(encoder, tmp)
        (tmp / HEAD_CONFIG).write_text(config + "\n")
        if sum(p.numel() for p in head.parameters()) > 0:
            save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, tmp / HEAD_WEIGHTS)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        old = out_dir.with_name(out_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out_dir)
    return out_dir


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
    head = build_head(config["head"], **config["head_kwargs"])
    if (path / HEAD_WEIGHTS).is_file():
        head.load_state_dict(load_file(path / HEAD_WEIGHTS))
    return encoder, head, config
