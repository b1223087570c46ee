"""Export an encoder's transformer to ONNX: ``model.onnx`` (fp32) and ``model.int8.onnx`` (dynamic int8 weights).

Each graph takes ``input_ids`` and ``attention_mask`` [N, L] (int64, N and L dynamic) and returns
``last_hidden_state`` [N, L, D]; pooling stays in :class:`uwe.models.encoder.TextEncoder`
(:mod:`uwe.models.onnx_backend` runs them). The int8 file quantises every weight matrix per output channel
(``onnxruntime.quantization.quantize_dynamic(per_channel=True)``): per tensor, all-MiniLM-L6-v2's pooled
vectors keep a cosine of only 0.95-0.97 to fp32, per channel about 0.993. Needs ``onnx`` and ``onnxruntime``
(``pip install "uwe[onnx]"``).

:func:`apply_backend` is the one place that turns a requested query backend into the encoder's, exporting into
the cache on first use: :class:`uwe.models.retriever.Retriever` calls it, so evaluation and ranking (``Ranker``,
``uwe rank/serve``) get the same query path.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from uwe.errors import UserError
from uwe.models.encoder import TextEncoder, state_sha256
from uwe.models.onnx_backend import BACKENDS, ONNX_FILES, WEIGHTS_KEY, available, onnx_file, require

log = logging.getLogger(__name__)

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


class _QuantizerChatter(logging.Filter):
    """Drops what quantize_dynamic logs on the root logger that is no news to a user: its advice to pre-process
    first (its symbolic shape inference fails on these graphs, and its optimised graph quantises to the same
    cosine, measured on all-MiniLM-L6-v2), and one INFO line per activation tensor it leaves in fp32 (dynamic
    quantisation computes those scales at run time)."""

    NOISE = ("pre-processing before quantization", "Quantization parameters for tensor")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(n in message for n in self.NOISE)


@contextlib.contextmanager
def _root_logging_kept() -> Iterator[None]:
    """Restore the root logger's handlers and level on exit: importing onnxruntime.quantization runs
    ``logging.basicConfig(level=INFO)``, and its ``logging.info`` calls configure an unconfigured root, so every
    later log line of the process (``uwe serve``'s access lines) would print twice."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


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
    with _root_logging_kept():
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
    hint = _QuantizerChatter()
    logging.getLogger().addFilter(hint)
    try:
        with _root_logging_kept():
            quantization.quantize_dynamic(str(paths["onnx"]), str(paths["onnx-int8"]), per_channel=True,
                                          weight_type=quantization.QuantType.QInt8)
    finally:
        logging.getLogger().removeFilter(hint)
    _stamp(paths["onnx-int8"], weights)
    return paths


def stamp_of(path: Path) -> str | None:
    """The weights sha256 an ONNX file was stamped with by :func:`export_onnx` (None: no stamp)."""
    model = require("onnx").load(str(path), load_external_data=False)
    return next((prop.value for prop in model.metadata_props if prop.key == WEIGHTS_KEY), None)


def cached_onnx_folder(encoder: TextEncoder, cache_dir: Path) -> Path:
    """A folder holding ``model.onnx`` of ``encoder``'s current weights: the folder it was loaded from when its
    file is stamped with these weights, else ``<cache_dir>/onnx/<weights sha256[:16]>/``, exported there once
    (about 5 s for MiniLM) and reused by every later evaluation or ranker of the same weights. The file found
    there is checked against the weights' sha256 when it is loaded (:class:`uwe.models.onnx_backend.OnnxTokenStates`)."""
    weights = state_sha256(encoder.model)
    if encoder.folder is not None and (encoder.folder / ONNX_FILES["onnx"]).is_file() and \
            stamp_of(encoder.folder / ONNX_FILES["onnx"]) == weights:
        return encoder.folder  # e.g. an export folder (uwe export --onnx), not a checkpoint trained from it
    folder = Path(cache_dir).expanduser() / "onnx" / weights[:16]
    if not (folder / ONNX_FILES["onnx"]).is_file() or not (folder / ONNX_FILES["onnx-int8"]).is_file():
        staging = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        export_onnx(encoder, staging)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)  # whole files or none: a killed export never leaves a half file in use
    return folder


def apply_backend(encoder: TextEncoder, backend: str, cache_dir: str | Path | None, precision: str = "32") -> str:
    """Set ``encoder``'s query backend (:meth:`~uwe.models.encoder.TextEncoder.set_backend`) and return it.

    ``auto`` is ONNX Runtime fp32 for every model on the CPU in fp32 (``precision="32"`` and float32 weights)
    when onnx and onnxruntime import: from :func:`cached_onnx_folder` (exported into ``cache_dir`` on first use,
    then reused), and torch otherwise; an export that fails leaves torch with a warning naming the error.
    ``onnx``/``onnx-int8`` export the same way and are errors where ``auto`` falls back. With ``cache_dir``
    None (validation during training) only files beside the weights are used, never exported.

    Args:
        encoder: on its final device (ONNX Runtime runs on the CPU only).
        backend: one of :data:`uwe.models.onnx_backend.BACKENDS`.
        cache_dir: the cache folder whose ``onnx/`` holds exported files.
        precision: the retriever's (``"bf16"`` is a torch autocast: torch under ``auto``).
    """
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    on_cpu = next(encoder.model.parameters()).device.type == "cpu"
    if backend == "auto":
        fp32 = precision == "32" and encoder.model.dtype == torch.float32
        exporter = importlib.util.find_spec("onnx") is not None
        if not (on_cpu and fp32 and available() and exporter):
            encoder.set_backend("torch")
            log.info("backend auto: torch for %s (on the CPU: %s, fp32: %s, onnxruntime and onnx: %s)", encoder.name,
                     on_cpu, fp32, available() and exporter)
            return encoder.backend
    if backend == "torch" or cache_dir is None:
        encoder.set_backend(backend)
        return encoder.backend
    if backend == "auto":
        try:
            folder = cached_onnx_folder(encoder, Path(cache_dir))
        except Exception as err:  # an architecture the exporter cannot trace: torch still ranks it
            log.warning("backend auto: torch for %s, its ONNX export failed: %s: %s", encoder.name,
                        type(err).__name__, err)
            encoder.set_backend("torch")
            return encoder.backend
    else:
        if not on_cpu:
            onnx_file(backend, None, on_cpu)  # its off-the-CPU error, before any export
        require_packages()
        folder = cached_onnx_folder(encoder, Path(cache_dir))
    encoder.set_backend(backend, folder)
    return encoder.backend
