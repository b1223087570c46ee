"""encoder=mpnet loads a real MPNet model from $UWE_MPNET_PATH and from its part packages (a tiny stand-in)."""

from __future__ import annotations

import pytest
import torch
from transformers import MPNetModel

from tests.mpnet_standin import LAYERS, WIDTH, install_parts, standin_mpnet
from uwe.models import encoder as encoder_module
from uwe.models.encoder import TextEncoder, model_shape

TEXTS = ["data scientist", "bake bread"]


@pytest.fixture
def standin(tmp_path):
    return standin_mpnet(tmp_path / "all-mpnet-base-v2")


def embed(encoder: TextEncoder) -> torch.Tensor:
    return encoder.encode(TEXTS).pooled


def test_mpnet_loads_from_uwe_mpnet_path(standin, monkeypatch, tmp_path):
    monkeypatch.setenv("UWE_MPNET_PATH", str(standin))
    monkeypatch.setenv("UWE_CACHE_DIR", str(tmp_path / "cache"))
    encoder = TextEncoder.from_name("mpnet")
    assert isinstance(encoder.model, MPNetModel) and encoder.folder == standin
    assert encoder.full_shape == (WIDTH, LAYERS) and model_shape("mpnet") == (WIDTH, LAYERS)
    assert embed(encoder).shape == (2, WIDTH)
    assert not (tmp_path / "cache").exists()  # the folder is used as it is, nothing unpacked


def test_mpnet_loads_from_its_part_packages_as_from_the_folder(standin, monkeypatch, tmp_path):
    monkeypatch.setenv("UWE_MPNET_PATH", str(standin))
    from_folder = embed(TextEncoder.from_name("mpnet"))

    monkeypatch.delenv("UWE_MPNET_PATH")
    monkeypatch.setenv("UWE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(encoder_module, "MPNET_SHA256", install_parts(standin, tmp_path / "site"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert model_shape("mpnet") is None  # nothing unpacked yet
    encoder = TextEncoder.from_name("mpnet")
    unpacked = tmp_path / "cache" / "mpnet" / "all-mpnet-base-v2"
    assert isinstance(encoder.model, MPNetModel) and encoder.folder == unpacked
    assert (unpacked / "model.safetensors").read_bytes() == (standin / "model.safetensors").read_bytes()
    assert model_shape("mpnet") == (WIDTH, LAYERS)
    assert torch.equal(embed(encoder), from_folder)

