"""Export an encoder's transformer to ONNX: ``model.onnx`` (fp32) and ``model.int8.onnx`` (dynamic int8 weights).

Each graph takes ``input_ids`` and ``attention_mask`` [N, L] (int64, N and L dynamic) and returns
``last_hidden_state`` [N, L, D]; pooling stays in :class:`uwe.models.encoder.TextEncoder`
(:mod:`uwe.models.onnx_backend` runs them). The int8 file quantises every weight matrix per output channel
(``onnxruntime.quantization.quantize_dynamic(per_channel=True)``): per tensor, all-MiniLM-L6-v2's pooled
vectors keep a cosine of only 0.95-0.97 to fp32, per channel about 0.993. Needs ``onnx`` and ``onnxruntime``
(``pip install "uwe[onnx]"``).
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from uwe.models.encoder import TextEncoder, state_sha256
from uwe.models.onnx_backend import ONNX_FILES, WEIGHTS_KEY, require

OPSET = 17
# Rows of different lengths, so the traced example is a padded batch, as real ones are.
EXAMPLE_TEXTS = ["data scientist", "manage a team of nurses in a hospital ward", "bake"]


class _TokenStates(nn.Module):
    """The transformer alone, called by keyword (its positional order differs between transformers versions)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class _NoPreprocessingHint(logging.Filter):
    """Drops quantize_dynamic's advice to pre-process first: its symbolic shape inference fails on these graphs,
    and its optimised graph quantises to the same cosine (measured on all-MiniLM-L6-v2)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _stamp(path: Path, weights_sha256: str) -> None:
    """Write ``weights_sha256`` into the model metadata of the ONNX file ``path``."""
    onnx = require("onnx")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    model.metadata_props.add(key=WEIGHTS_KEY, value=weights_sha256)
    onnx.save(model, str(path))


def require_packages() -> None:
    """A one-line :class:`~uwe.errors.UserError` naming ``pip install "uwe[onnx]"`` unless onnx and onnxruntime
    import: call it before writing anything."""
    require("onnx")
    require("onnxruntime")


def export_onnx(encoder: TextEncoder, folder: Path) -> dict[str, Path]:
    """Write ``model.onnx`` and ``model.int8.onnx`` of ``encoder``'s transformer into ``folder``.

    Returns:
        {"onnx": fp32 file, "onnx-int8": int8 file}, both stamped with the weights' sha256.
    """
    require_packages()
    quantization = require("onnxruntime.quantization")
    folder = Path(folder)
    paths = {backend: folder / name for backend, name in ONNX_FILES.items()}
    weights = state_sha256(encoder.model)
    device = next(encoder.model.parameters()).device
    example = {k: v.to(device) for k, v in encoder.tokenize(EXAMPLE_TEXTS).items()}
    module = _TokenStates(encoder.model).eval()
    dynamic = {"input_ids": {0: "n", 1: "l"}, "attention_mask": {0: "n", 1: "l"}, "last_hidden_state": {0: "n", 1: "l"}}
    was_training = encoder.model.training
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            # The legacy (TorchScript) exporter: the new one needs onnxscript. Its tracer warnings concern
            # branches that transformers takes the same way for every input while tracing.
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example["input_ids"], example["attention_mask"]), str(paths["onnx"]),
                              dynamo=False, opset_version=OPSET, input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state"], dynamic_axes=dynamic)
    finally:
        encoder.model.train(was_training)
    _stamp(paths["onnx"], weights)
    hint = _NoPreprocessingHint()
    logging.getLogger().addFilter(hint)
    try:
        quantization.quantize_dynamic(str(paths["onnx"]), str(paths["onnx-int8"]), per_channel=True,
                                      weight_type=quantization.QuantType.QInt8)
    finally:
        logging.getLogger().removeFilter(hint)
    _stamp(paths["onnx-int8"], weights)
    return paths


def cached_onnx_folder(encoder: TextEncoder, cache_dir: Path) -> Path:
    """A folder holding ``model.onnx`` of ``encoder``'s current weights: the folder it was loaded from when that
    has one, else ``<cache_dir>/onnx/<weights sha256[:16]>/``, exported there once (a few seconds for MiniLM)
    and reused by every later evaluation of the same weights."""
    if encoder.folder is not None and (encoder.folder / ONNX_FILES["onnx"]).is_file():
        return encoder.folder
    folder = Path(cache_dir).expanduser() / "onnx" / state_sha256(encoder.model)[:16]
    if not (folder / ONNX_FILES["onnx"]).is_file() or not (folder / ONNX_FILES["onnx-int8"]).is_file():
        staging = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        export_onnx(encoder, staging)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)  # whole files or none: a killed export never leaves a half file in use
    return folder
