"""``device: auto|cpu|cuda|cuda:N`` resolves in one place, with a clear error for anything else."""

import pytest
import torch

from uwe.models.device import check_precision, resolve_device
from uwe.models.embeddings import Embeddings


def _gpus(monkeypatch, n: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


@pytest.mark.parametrize("gpus, name, expected", [
    (0, "auto", "cpu"), (1, "auto", "cuda"), (0, "cpu", "cpu"), (2, "cpu", "cpu"), (1, "cuda", "cuda"),
    (2, "cuda:1", "cuda:1"), (1, " CUDA:0 ", "cuda:0"), (1, torch.device("cuda", 0), "cuda:0"),
])
def test_resolves(monkeypatch, gpus, name, expected):
    _gpus(monkeypatch, gpus)
    assert resolve_device(name) == torch.device(expected)


@pytest.mark.parametrize("gpus, name, message", [
    (1, "gpu", r"device='gpu' is not one of auto, cpu, cuda, cuda:N"),
    (1, "cuda:", r"device='cuda:' is not one of"),
    (1, "mps", r"device='mps' is not one of"),
    (0, "cuda", r"device='cuda' but torch sees no CUDA GPU"),
    (0, "cuda:0", r"device='cuda:0' but torch sees no CUDA GPU"),
    (2, "cuda:2", r"device='cuda:2' but torch sees 2 CUDA GPU\(s\): cuda:0 .. cuda:1"),
])
def test_refuses_with_the_value(monkeypatch, gpus, name, message):
    _gpus(monkeypatch, gpus)
    with pytest.raises(ValueError, match=message):
        resolve_device(name)


def test_precision_values():
    assert check_precision(32) == check_precision("32") == "32" and check_precision("bf16") == "bf16"
    for bad in ("16", "bf16-mixed", "fp32", 16):
        with pytest.raises(ValueError, match="is not one of 32, bf16"):
            check_precision(bad)


def test_embeddings_to_keeps_an_object_already_there():
    pooled = Embeddings(torch.zeros(2, 3))
    assert pooled.to(torch.device("cpu")) is pooled
    tokens = Embeddings(torch.zeros(2, 3), torch.zeros(2, 4, 3), torch.ones(2, 4, dtype=torch.bool))
    moved = tokens.to("cpu")
    assert moved.tokens is tokens.tokens and moved.mask is tokens.mask


def test_embeddings_to_a_dtype_casts_the_floats_and_keeps_the_mask_bool():
    emb = Embeddings(torch.zeros(2, 3, dtype=torch.bfloat16), torch.zeros(2, 4, 3, dtype=torch.bfloat16),
                     torch.ones(2, 4, dtype=torch.bool))
    cast = emb.to(dtype=torch.float32)
    assert cast.pooled.dtype == cast.tokens.dtype == torch.float32 and cast.mask.dtype == torch.bool
    assert Embeddings(torch.zeros(2, 3)).to(dtype=torch.float32).tokens is None
