"""Query encoding with ONNX Runtime: the transformer's last hidden state from an exported ``model.onnx``.

Backends (``TextEncoder.set_backend``, ``Ranker.from_pretrained(backend=...)``):

- ``torch``: the Hugging Face model itself (the reference; training, evaluation and cached spaces use it).
- ``onnx``: ``model.onnx`` beside the weights, fp32; equal to torch within about 1e-5.
- ``onnx-int8``: ``model.int8.onnx``, its weights dynamically quantised to int8 per channel; faster, but not
  equal (see the README's latency section for its ranking cost).
- ``auto``: ``onnx`` when ``model.onnx`` is beside the weights, onnxruntime is importable and the encoder
  is on the CPU; else ``torch``. It never picks ``onnx-int8``, whose MAP cost exceeds the 0.3 allowed. Given a
  cache folder (every ``Ranker`` and evaluation), :func:`uwe.models.onnx_export.apply_backend` first exports
  the model there once, so ``auto`` is ``onnx`` for every model on the CPU in fp32.

Only the transformer runs in ONNX Runtime: it returns the token states [N, L, D], and pooling, padding and
normalisation stay in :class:`uwe.models.encoder.TextEncoder`, one implementation for every backend. Both
files carry the sha256 of the weights they were exported from (metadata ``uwe_weights_sha256``); a file
whose weights are not the encoder's is never used: an error when asked for by name, a warning and torch under
``auto`` (a file that was changed after it was exported). onnx and onnxruntime are base dependencies; without
them ``auto`` is torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import torch

from uwe.errors import UserError

BACKENDS = ("torch", "onnx", "onnx-int8", "auto")
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}
WEIGHTS_KEY = "uwe_weights_sha256"  # model metadata: the sha256 of the weights the file was exported from
INSTALL = 'pip install "uwe[onnx]"'


class StaleOnnxError(UserError):
    """An ONNX file exported from other weights than the encoder's."""


def require(module: str) -> object:
    """Import ``module`` (``onnxruntime`` or ``onnx``), or raise a one-line :class:`UserError` naming the install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"the ONNX backend needs {module}, which is not installed: {INSTALL}") from None


def available() -> bool:
    """True when onnxruntime can be imported."""
    try:
        require("onnxruntime")
    except UserError:
        return False
    return True


def onnx_file(backend: str, folder: Path | None, on_cpu: bool = True) -> Path | None:
    """The ONNX file that ``backend`` encodes with, or None for torch.

    Args:
        backend: one of :data:`BACKENDS`.
        folder: where the encoder's weights were loaded from (None: built in memory or from a checkpoint).
        on_cpu: whether the encoder is on the CPU; ONNX Runtime runs here on the CPU only.

    Raises:
        UserError: an unknown backend; ``onnx``/``onnx-int8`` without its file, without onnxruntime or off the CPU.
    """
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend == "torch":
        return None
    if backend == "auto":
        path = None if folder is None else Path(folder) / ONNX_FILES["onnx"]
        return path if path is not None and path.is_file() and on_cpu and available() else None
    require("onnxruntime")
    if not on_cpu:
        raise UserError(f"backend {backend!r} runs on the CPU, but the encoder is not on the CPU; use backend='torch'")
    path = None if folder is None else Path(folder) / ONNX_FILES[backend]
    if path is None or not path.is_file():
        where = f"{path} does not exist" if path is not None else "the encoder was not loaded from a folder"
        raise UserError(f"backend {backend!r} needs {ONNX_FILES[backend]}, but {where}; write it with "
                        "`uwe export MODEL OUT --onnx` and load OUT")
    return path


class OnnxTokenStates:
    """``model.onnx`` in an ONNX Runtime session: [N, L] ids and mask -> [N, L, D] last hidden state.

    Args:
        path: an ONNX file written by :func:`uwe.models.onnx_export.export_onnx`.
        weights_sha256: the encoder's :func:`uwe.models.encoder.state_sha256`; the file must carry the same.
        threads: intra-op threads (default: ``torch.get_num_threads()``, as the torch path uses).
    """

    def __init__(self, path: Path, weights_sha256: str, threads: int | None = None):
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Idle ONNX Runtime threads must not spin: next to torch's OpenMP threads (which spin long when
        # OMP_NUM_THREADS is exported) they made a one-thread query 3x slower (bench_depth_width: 21.7 vs 7.1 ms
        # with OMP_NUM_THREADS=2); without spinning a batch of 2,048 titles on two threads was no slower.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        found = self.session.get_modelmeta().custom_metadata_map.get(WEIGHTS_KEY)
        if found != weights_sha256:
            raise StaleOnnxError(f"{self.path} was exported from other weights (its {WEIGHTS_KEY} is {found}, the "
                                 f"encoder's is {weights_sha256}); export it again with `uwe export MODEL OUT --onnx "
                                 "--overwrite`, or use backend='torch'")

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[N, L] int ids and [N, L] 0/1 mask -> [N, L, D] float32 token states on the ids' device."""
        feed = {"input_ids": input_ids.cpu().numpy().astype(np.int64),
                "attention_mask": attention_mask.cpu().numpy().astype(np.int64)}
        (states,) = self.session.run(["last_hidden_state"], feed)
        return torch.from_numpy(states).to(input_ids.device)
