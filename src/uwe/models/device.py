"""Where encoding and scoring run: one setting (``device: auto|cpu|cuda|cuda:N``) resolved in one place."""

from __future__ import annotations

import re

import torch

from uwe.errors import ConfigError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N"
PRECISIONS = ("32", "bf16")


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device a config value names: ``auto`` is ``cuda`` when a GPU is visible, else ``cpu``.

    Raises:
        ValueError: ``name`` is none of ``auto``, ``cpu``, ``cuda``, ``cuda:N``; or it names a GPU that this
            machine does not have (no silent fall back to the CPU: a run asked for a GPU gets one or stops).

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if match is None:
        raise ConfigError(f"device={name!r} is not one of {DEVICE_CHOICES}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ConfigError(f"device={name!r} but torch sees no CUDA GPU (torch {torch.__version__}, "
                         f"cuda {torch.version.cuda}); use device=cpu or device=auto")
    if match[1] is not None and int(match[1]) >= count:
        raise ConfigError(f"device={name!r} but torch sees {count} CUDA GPU(s): cuda:0 .. cuda:{count - 1}")
    return torch.device(text)


def check_precision(precision: str | int) -> str:
    """``"32"`` or ``"bf16"`` (a config's ``precision: 32`` arrives as an int); ValueError for anything else."""
    text = str(precision)
    if text not in PRECISIONS:
        raise ConfigError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    return text
