import json

import pytest
import safetensors.torch
import torch

from uwe.models.encoder import TextEncoder
from uwe.models.space_cache import CacheError, StaleCacheError, cache_key, load_or_encode

SKILLS = ["python programming", "nursing care", "manage a team", "sql", "python programming"]


@pytest.fixture
def encoder(monkeypatch):
    """A tiny token-keeping encoder whose ``encode`` counts its calls in ``encoder.calls``."""
    enc = TextEncoder.from_name("tiny", keep_tokens=True)
    real_encode = enc.encode
    enc.calls = 0

    def counting_encode(*args, **kwargs):
        enc.calls += 1
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(enc, "encode", counting_encode)
    return enc


def _load(encoder, tmp_path, texts=SKILLS, **kwargs):
    return load_or_encode(encoder, texts, tmp_path, "skills", show_progress=False, **kwargs)


def test_miss_then_hit_returns_identical_tensors(encoder, tmp_path):
    first = _load(encoder, tmp_path)
    second = _load(encoder, tmp_path)
    assert encoder.calls == 1
    assert torch.equal(first.pooled, second.pooled)
    assert torch.equal(first.tokens, second.tokens) and torch.equal(first.mask, second.mask)

    key = cache_key(encoder, SKILLS)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"skills.{key[:12]}.json", f"skills.{key[:12]}.safetensors"]
    meta = json.loads((tmp_path / f"skills.{key[:12]}.json").read_text())
    assert meta["key"] == key and meta["encoder"] == "tiny"
    assert (meta["n_texts"], meta["dim"], meta["n_tokens"]) == (5, 32, first.tokens.shape[1])


def test_cached_values_match_a_fresh_encode(encoder, tmp_path):
    cached = _load(encoder, tmp_path)
    fresh = encoder.encode(SKILLS, show_progress=False)
    assert torch.equal(cached.pooled, fresh.pooled)  # stored as float32
    assert torch.equal(cached.mask, fresh.mask)
    assert cached.tokens.dtype == torch.float32  # stored as float16, read back as float32
    assert torch.allclose(cached.tokens, fresh.tokens, rtol=1e-3, atol=1e-3)
    assert not torch.equal(cached.tokens, fresh.tokens)  # the float16 round trip is real
    stored = safetensors.torch.load_file(next(tmp_path.glob("*.safetensors")))
    assert stored["tokens"].dtype == torch.float16 and stored["mask"].dtype == torch.bool


def test_pooled_only_encoder(tmp_path):
    enc = TextEncoder.from_name("tiny")
    out = load_or_encode(enc, SKILLS, tmp_path, "skills", show_progress=False)
    assert out.tokens is None and out.mask is None and out.pooled.shape == (5, 32)
    again = load_or_encode(enc, SKILLS, tmp_path, "skills", show_progress=False)
    assert torch.equal(out.pooled, again.pooled)


def test_key_is_order_sensitive(encoder):
    assert cache_key(encoder, ["a", "b"]) != cache_key(encoder, ["b", "a"])


def test_changed_targets_are_stale(encoder, tmp_path):
    _load(encoder, tmp_path)
    old_key, new_key = cache_key(encoder, SKILLS), cache_key(encoder, SKILLS[:3])
    with pytest.raises(StaleCacheError) as err:
        _load(encoder, tmp_path, texts=SKILLS[:3])
    message = str(err.value)
    assert f"skills.{old_key[:12]}.safetensors" in message
    assert old_key in message and new_key in message and "refresh=True" in message
    assert encoder.calls == 1


def test_changed_weights_are_stale(encoder, tmp_path):
    _load(encoder, tmp_path)
    with torch.no_grad():
        encoder.model.embeddings.word_embeddings.weight[0, 0] += 1.0
    with pytest.raises(StaleCacheError):
        _load(encoder, tmp_path)


def test_refresh_reencodes_and_replaces(encoder, tmp_path):
    _load(encoder, tmp_path)
    out = _load(encoder, tmp_path, texts=SKILLS[:3], refresh=True)
    assert encoder.calls == 2 and len(out) == 3
    key = cache_key(encoder, SKILLS[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"skills.{key[:12]}.json", f"skills.{key[:12]}.safetensors"]
    _load(encoder, tmp_path, texts=SKILLS[:3])
    assert encoder.calls == 2


def test_spaces_with_other_names_coexist(encoder, tmp_path):
    _load(encoder, tmp_path)
    load_or_encode(encoder, ["nurse", "developer"], tmp_path, "skills.jobs", show_progress=False)
    _load(encoder, tmp_path)
    assert encoder.calls == 2


def test_corrupt_data_file(encoder, tmp_path):
    _load(encoder, tmp_path)
    data = next(tmp_path.glob("*.safetensors"))
    data.write_bytes(b"not a safetensors file")
    with pytest.raises(CacheError, match=f"cache file {data} is unreadable.*refresh=True"):
        _load(encoder, tmp_path)


def test_corrupt_sidecar(encoder, tmp_path):
    _load(encoder, tmp_path)
    sidecar = next(tmp_path.glob("*.json"))
    sidecar.write_text("{truncated")
    with pytest.raises(CacheError, match=f"sidecar {sidecar} is unreadable"):
        _load(encoder, tmp_path)


def test_failed_write_leaves_nothing(encoder, tmp_path, monkeypatch):
    def half_write(tensors, filename, **kwargs):
        open(filename, "wb").write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", half_write)
    with pytest.raises(OSError, match="disk full"):
        _load(encoder, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_name_must_be_a_file_name(encoder, tmp_path):
    with pytest.raises(ValueError, match="cache name"):
        load_or_encode(encoder, SKILLS, tmp_path, "../skills")
