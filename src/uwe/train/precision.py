"""Which numeric precision training runs in: bf16 mixed precision where the hardware computes it natively."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from uwe.errors import ConfigError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true")
# CPU flags of native bf16 matrix arithmetic (AVX-512 BF16, AMX); without them bf16 is emulated and slower.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The ``flags`` of the first processor in ``cpuinfo`` (empty when the file is absent, e.g. macOS)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def resolve_precision(requested: str | int, accelerator: str, flags: set[str] | None = None,
                      cuda_bf16: bool | None = None) -> str:
    """Lightning's ``precision`` for ``requested``; ``auto`` picks ``bf16-mixed`` where bf16 is native.

    Args:
        requested: ``auto`` or any Lightning precision (``32-true``, ``bf16-mixed``, ...; ``32`` is ``32-true``).
        accelerator: the trainer's accelerator (``cpu``, ``gpu``, ``cuda``, ``auto``).
        flags: CPU flags (default: :func:`cpu_flags`); cuda_bf16: whether the GPU does bf16 (default: asked).

    >>> resolve_precision("auto", "cpu", flags={"avx512_bf16"})
    'bf16-mixed'
    >>> resolve_precision("auto", "cpu", flags={"avx2"})
    '32-true'
    >>> resolve_precision(32, "cpu")
    '32-true'
    """
    requested = {"32": "32-true", "16": "16-mixed", "bf16": "bf16-mixed"}.get(str(requested), str(requested))
    if requested not in PRECISIONS:
        raise ConfigError(f"trainer.precision={requested!r} is not one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported() if cuda_bf16 is None else cuda_bf16
        if ok:
            return "bf16-mixed"
        log.info("precision auto: fp32 (this GPU has no native bf16)")
        return "32-true"
    flags = cpu_flags() if flags is None else flags
    native = sorted(set(BF16_CPU_FLAGS) & flags)
    if native:
        return "bf16-mixed"
    log.info("precision auto: fp32 (this CPU has none of %s, so bf16 would be emulated and slower)",
             ", ".join(BF16_CPU_FLAGS))
    return "32-true"
