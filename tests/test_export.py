"""Export: SentenceTransformer loads the folder and gives the encoder's vectors; load_exported round-trips."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer

from uwe.models.encoder import TextEncoder
from uwe.models.export import HEAD_CONFIG, HEAD_WEIGHTS, export_model, load_exported
from uwe.models.heads import SoftLateInteractionHead

# The last text is longer than max_length: truncation must match too.
TEXTS = ["python programming", "manage a team of nurses in a hospital ward", " ".join(["bake bread"] * 20)]
MAX_LENGTH = 16


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_sentence_transformer_gives_the_pooled_vectors(tmp_path, pooling):
    encoder = TextEncoder.from_name("tiny", max_length=MAX_LENGTH, pooling=pooling)
    folder = export_model(encoder, "cosine", {}, tmp_path / "model")
    expected = encoder.encode(TEXTS, show_progress=False).pooled
    got = SentenceTransformer(str(folder), device="cpu").encode(TEXTS, normalize_embeddings=False,
                                                                convert_to_tensor=True)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-5)
    assert json.loads((folder / "config_sentence_transformers.json").read_text())["similarity_fn_name"] == "cosine"
    assert not (folder / HEAD_WEIGHTS).exists()  # the heads have no parameters
    assert not folder.with_name("model.tmp").exists()


def test_load_exported_round_trip(tmp_path):
    encoder = TextEncoder.from_name("tiny", max_length=MAX_LENGTH, pooling="tokens")
    metadata = {"run": "r1", "mrr": 0.5}
    folder = export_model(encoder, "soft_li", {"tau_a": 0.2}, tmp_path / "model", metadata=metadata)
    loaded, head, config = load_exported(folder)
    assert (loaded.pooling, loaded.max_length, loaded.keep_tokens) == ("mean", MAX_LENGTH, True)
    before, after = encoder.encode(TEXTS, show_progress=False), loaded.encode(TEXTS, show_progress=False)
    assert torch.equal(before.pooled, after.pooled) and torch.equal(before.tokens, after.tokens)
    assert isinstance(head, SoftLateInteractionHead) and head.tau_a == 0.2
    assert (config["head"], config["head_kwargs"], config["metadata"]) == ("soft_li", {"tau_a": 0.2}, metadata)


def test_head_parameters_are_saved(tmp_path):
    class Scaled(SoftLateInteractionHead):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.scale = torch.nn.Parameter(torch.tensor([3.0]))

    folder = export_model(TextEncoder.from_name("tiny"), "soft_li", {}, tmp_path / "model", head=Scaled())
    assert torch.equal(load_file(folder / HEAD_WEIGHTS)["scale"], torch.tensor([3.0]))


def test_refuses_to_overwrite(tmp_path):
    encoder = TextEncoder.from_name("tiny")
    folder = export_model(encoder, "cosine", {}, tmp_path / "model")
    with pytest.raises(FileExistsError, match="model.*overwrite=True"):
        export_model(encoder, "maxsim", {}, folder)
    assert json.loads((folder / HEAD_CONFIG).read_text())["head"] == "cosine"
    export_model(encoder, "maxsim", {}, folder, overwrite=True)
    assert json.loads((folder / HEAD_CONFIG).read_text())["head"] == "maxsim"
    assert not folder.with_name("model.old").exists()
    (tmp_path / "empty").mkdir()
    export_model(encoder, "cosine", {}, tmp_path / "empty")  # an empty folder is fine


def test_missing_head_config_is_not_a_uwe_export(tmp_path):
    folder = export_model(TextEncoder.from_name("tiny"), "cosine", {}, tmp_path / "model")
    (folder / HEAD_CONFIG).unlink()
    with pytest.raises(FileNotFoundError, match=f"{HEAD_CONFIG}.*not a uwe export"):
        load_exported(folder)
    assert TextEncoder.from_name(str(folder)).dim == 32  # still usable as an encoder folder
