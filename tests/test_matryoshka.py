"""2D Matryoshka training (uwe.models.matryoshka): a width is a slice, a depth is the model cut to k layers, the
loss is the weighted sum of its views, bad settings are one clear line, and a checkpoint records its views."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F

from uwe.config import check_train_config
from uwe.errors import ConfigError
from uwe.models.checkpoint import read_checkpoint
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder, model_shape
from uwe.models.heads import CosineHead, SoftLateInteractionHead, cosine_scores
from uwe.models.losses.m2m_infonce import m2m_infonce
from uwe.models.matryoshka import Matryoshka, alignment_kl, truncate
from uwe.models.views import trained_views
from uwe.models.pooling import POOLINGS, mean_pool
from uwe.train.module import UWEModule
from uwe.train.reuse import run_key
from tests.test_train import compose_train

TEXTS = ["software developer", "a nurse caring for patients in a hospital ward", "python", "drive a forklift truck"]
TINY_2D = ["matryoshka=2d", "matryoshka.widths=[32,16,8]", "matryoshka.layers=[2,1]"]


def tiny(pooling: str = "mean", keep_tokens: bool = True) -> TextEncoder:
    return TextEncoder.from_name("tiny", pooling=pooling, keep_tokens=keep_tokens).eval()


def settings(**overrides) -> Matryoshka:
    cfg = {"name": "2d", "widths": [32, 16, 8], "layers": [2, 1], **overrides}
    return Matryoshka.from_config(cfg).resolve(32, 2)


# width --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_width_d_is_the_first_d_dims_of_the_full_output(pooling):
    encoder = tiny(pooling)
    tokens = encoder.tokenize(TEXTS)
    with torch.no_grad():
        full = encoder(**tokens)
    for width in (32, 16, 8, 1):
        cut = truncate(full, width)
        assert torch.equal(cut.pooled, full.pooled[:, :width])
        assert torch.equal(cut.tokens, full.tokens[:, :, :width]) and torch.equal(cut.mask, full.mask)
    # No normalisation before the head: pooling the cut tokens is cutting the pooled vector ...
    assert torch.allclose(POOLINGS[encoder.pooling](full.tokens[:, :, :8], full.mask), full.pooled[:, :8], atol=1e-6)
    # ... and the head re-normalises what it gets: cosine of the cut = unit vectors of the slice.
    cut = truncate(full, 8).pooled
    expected = F.normalize(full.pooled[:, :8], dim=-1) @ F.normalize(full.pooled[:, :8], dim=-1).T
    assert torch.allclose(cosine_scores(cut, cut), expected, atol=1e-6)
    assert truncate(full, 32) is full


def test_width_out_of_range_is_refused():
    emb = Embeddings(torch.ones(2, 4))
    for width in (0, 5):
        with pytest.raises(ValueError, match=f"width {width} is not between 1 and the embeddings' width 4"):
            truncate(emb, width)


# depth --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_depth_k_is_the_model_cut_to_its_first_k_layers(pooling):
    encoder = tiny(pooling)
    tokens = encoder.tokenize(TEXTS)
    with torch.no_grad():
        layers = encoder.forward_layers(tokens["input_ids"], tokens["attention_mask"], (2, 1))
        full = encoder(**tokens)
    # The full depth is the default forward, unchanged.
    assert torch.equal(layers[2].pooled, full.pooled) and torch.equal(layers[2].tokens, full.tokens)
    for k in (1, 2):
        model = copy.deepcopy(encoder.model)
        model.encoder.layer = model.encoder.layer[:k]
        cut = TextEncoder(model, encoder.tokenizer, pooling=pooling, keep_tokens=True).eval()
        with torch.no_grad():
            expected = cut(**tokens)
        assert torch.allclose(layers[k].pooled, expected.pooled, atol=1e-6), k
        assert torch.allclose(layers[k].tokens, expected.tokens, atol=1e-6)
        assert torch.equal(layers[k].mask, expected.mask)
    assert not torch.allclose(layers[1].pooled, layers[2].pooled)
    with pytest.raises(ValueError, match="not all between 1 and the model's 2 layers"):
        encoder.forward_layers(tokens["input_ids"], tokens["attention_mask"], (0,))


def test_the_step_layers_are_the_full_model_and_one_drawn_shallower_depth():
    s = Matryoshka.from_config({"name": "2d", "widths": [384, 64], "layers": [6, 4, 3, 2]}).resolve(384, 6)
    draws = [s.step_layers(seed) for seed in range(60)]
    assert all(len(d) == 2 and d[0] == 6 for d in draws)
    assert {d[1] for d in draws} == {4, 3, 2}
    assert s.step_layers(7) == s.step_layers(7)  # every process and a resumed run draw the same depth
    every = Matryoshka.from_config({"name": "2d", "layers": [4, 2], "layers_per_step": 5}).resolve(384, 6)
    assert every.step_layers(0) == (6, 4, 2)  # unlisted full model first; more per step than listed: all of them
    assert every.trained() == {"widths": [384], "layers": [6, 4, 2]}


# loss ---------------------------------------------------------------------------------------------------
def _views(seed: int = 0, tokens: bool = False) -> dict[int, tuple[Embeddings, Embeddings]]:
    g = torch.Generator().manual_seed(seed)

    def emb(n):
        if not tokens:
            return Embeddings(torch.randn(n, 32, generator=g))
        t, mask = torch.randn(n, 3, 32, generator=g), torch.tensor([[True, True, False]] * n)
        return Embeddings(mean_pool(t, mask), t.masked_fill(~mask[..., None], 0.0), mask)

    return {2: (emb(4), emb(5)), 1: (emb(4), emb(5))}


POS = torch.tensor([[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=torch.bool)


@pytest.mark.parametrize("head", [CosineHead(), SoftLateInteractionHead()])
def test_the_loss_is_the_weighted_hand_sum_of_its_views(head):
    s = settings(width_weights=[1.0, 0.5, 0.25], layer_weights=[1.0, 2.0], align_weight=0.7, align_temperature=0.5)
    views = _views(tokens=head.needs_tokens)

    def loss_of(q, t):
        return m2m_infonce(head(q, t), POS, 0.05)

    by_hand = 0.0
    for depth, layer_weight in ((2, 1.0), (1, 2.0)):
        q, t = views[depth]
        for width, width_weight in ((32, 1.0), (16, 0.5), (8, 0.25)):
            by_hand += layer_weight * width_weight * loss_of(truncate(q, width), truncate(t, width))
    deep = torch.cat([views[2][0].pooled, views[2][1].pooled])
    shallow = torch.cat([views[1][0].pooled, views[1][1].pooled])
    kl = (F.softmax(deep / 0.5, -1) * (F.log_softmax(deep / 0.5, -1) - F.log_softmax(shallow / 0.5, -1))).sum() / 9
    assert s.loss(views, loss_of).item() == pytest.approx((by_hand + 0.7 * kl).item(), rel=1e-6)
    assert s.widths == (32, 16, 8) and s.layers == (2, 1)


def test_the_alignment_is_zero_when_the_shallow_layer_is_the_deep_one():
    views = _views()
    same = {2: views[2], 1: views[2]}
    s = settings(align_weight=3.0)
    loss_of = lambda q, t: m2m_infonce(cosine_scores(q.pooled, t.pooled), POS, 0.05)  # noqa: E731
    assert alignment_kl(views[2][0].pooled, views[2][0].pooled, 0.3).item() == 0.0
    once = settings(align_weight=0.0).loss({2: views[2]}, loss_of)
    assert s.loss(same, loss_of).item() == pytest.approx(2 * once.item())
    assert alignment_kl(views[1][0].pooled, views[2][0].pooled, 0.3).item() > 0
    # The last layer is the teacher: the alignment's gradient reaches the shallow layer only.
    shallow, deep = (views[d][0].pooled.clone().requires_grad_() for d in (1, 2))
    alignment_kl(shallow, deep, 0.3).backward()
    assert deep.grad is None and shallow.grad.abs().sum() > 0


def test_only_the_full_view_gives_the_plain_loss(tiny_root, tmp_path):
    """matryoshka with the full width and depth alone and no alignment is the loss without it, through the module."""
    from uwe.data.catalog import Catalog
    from uwe.data.mix import load_mix
    from uwe.train.run import build_module

    mix = load_mix(Catalog(tiny_root, use_cache=False), {"vacancy_skill": {"alpha": 1.0, "tau": 0.05}})
    losses = {}
    for name, extra in (("plain", []), ("full_view", ["matryoshka=2d", "matryoshka.widths=[32]",
                                                      "matryoshka.layers=[2]", "matryoshka.align_weight=0"])):
        module = build_module(compose_train(tmp_path, tiny_root, "head=soft_li", *extra), mix)
        module.attach(mix, [])
        module.encoder.eval()
        batch = module._batches[0]
        losses[name] = module.graph_loss("vacancy_skill", batch["vacancy_skill"],
                                         module.embed_step(batch, module.step_layers())["vacancy_skill"])
    assert losses["full_view"].item() == pytest.approx(losses["plain"].item(), rel=1e-6)


def test_the_packed_step_gives_the_plain_path_matryoshka_loss(tiny_root, tmp_path):
    from uwe.data.catalog import Catalog
    from uwe.data.mix import load_mix
    from uwe.train.run import build_module

    mix = load_mix(Catalog(tiny_root, use_cache=False), {g: {"alpha": 1.0, "tau": 0.05}
                                                         for g in ("vacancy_skill", "occupation_alias")})
    module = build_module(compose_train(tmp_path, tiny_root, "head=soft_li", "batch.max_tokens=24", *TINY_2D), mix)
    module.attach(mix, [])
    module.encoder.eval()
    batch = module._batches[0]
    layers = module.step_layers()
    assert layers == (2, 1)
    packed = module.embed_step(batch, layers)
    assert set(packed["vacancy_skill"]) == {2, 1}
    for name, b in batch.items():
        plain = module.graph_loss(name, b)  # encodes the step's depths itself, two padded passes
        assert module.graph_loss(name, b, packed[name]).item() == pytest.approx(plain.item(), abs=1e-5), name


# bad settings -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, message", [
    (["matryoshka=2d"], r"matryoshka.widths=\[384, 256, 128, 64\] is not valid: 384 is above the width of encoder "
                        r"tiny, 32; the widths must be at most 32"),
    ([*TINY_2D[:2], "matryoshka.layers=[3,1]"], r"matryoshka.layers=\[3, 1\] is not valid: encoder tiny has 2 layers"),
    ([*TINY_2D[:2], "matryoshka.layers=[2,0]"], r"matryoshka.layers=\[2, 0\] is not valid: expected a list of integers "
                                                r">= 1 in descending order"),
    ([*TINY_2D[:1], "matryoshka.widths=[8,16]"], r"matryoshka.widths=\[8, 16\] is not valid: expected a list"),
    ([*TINY_2D[:1], "matryoshka.widths=[]"], r"matryoshka.widths=\[\] is not valid"),
    ([*TINY_2D, "matryoshka.width_weights=[1,1]"], r"matryoshka.width_weights=\[1, 1\] is not valid: expected 3 "
                                                   r"number\(s\) >= 0, one per entry of matryoshka.widths"),
    ([*TINY_2D, "matryoshka.layers_per_step=0"], r"matryoshka.layers_per_step=0 is not valid: expected an integer"),
    ([*TINY_2D, "matryoshka.align_temperature=0"], r"matryoshka.align_temperature=0 is not valid: expected a number"),
    ([*TINY_2D, "+matryoshka.dims=[8]"], r"matryoshka.dims is not valid: a matryoshka config takes widths,"),
    ([*TINY_2D, "loss=rankpo", "init_from=."], r"matryoshka=2d is not valid with loss=rankpo: it trains with the "
                                               r"contrastive graph losses"),
])
def test_bad_settings_are_one_clear_config_error(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        check_train_config(compose_train(tmp_path, tmp_path, "encoder=tiny", *overrides))
    assert "\n" not in str(err.value)


def test_the_model_is_checked_when_built_whatever_its_name():
    with pytest.raises(ConfigError, match="matryoshka.widths=\\[64\\] is not valid: 64 is above the width of encoder "
                                          "tiny, 32"):
        UWEModule(encoder={"name": "tiny", "max_length": 32}, pooling={"name": "mean"}, head={"name": "cosine"},
                  loss={"name": "m2m_infonce"}, graphs={}, optimizer={}, matryoshka={"name": "2d", "widths": [64]})


def test_model_shape_reads_config_json_alone(tmp_path):
    assert model_shape("tiny") == (32, 2) and model_shape("minilm") == (384, 6)
    assert model_shape(str(tmp_path)) is None and model_shape("owner/hub-name") is None


def test_none_leaves_the_reuse_key_of_older_runs():
    base = {"loss": {"name": "m2m_infonce"}, "seed": 1}
    assert run_key({**base, "matryoshka": {"name": "none"}}) == run_key(base)
    assert run_key({**base, "matryoshka": {"name": "2d", "widths": [384]}}) != run_key(base)


# end to end ---------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("extra", [["head=cosine"], ["head=soft_li"], ["head=maxsim", "mining=hard"]])
def test_a_tiny_2d_run_trains_and_its_checkpoint_and_export_record_the_views(tiny_root, tmp_path, extra):
    from uwe.train.run import train

    record = train(compose_train(tmp_path, tiny_root, *extra, *TINY_2D, "trainer.max_steps=3", "val.every_n_steps=3"))
    assert record["checkpoint"]["global_step"] == 3 and 0.0 < record["macro"]["map"] <= 1.0
    checkpoint = read_checkpoint(record["checkpoint"]["path"])
    assert checkpoint.hparams["matryoshka"]["widths"] == [32, 16, 8]
    assert trained_views(checkpoint.hparams["matryoshka"], 32, 2) == {"widths": [32, 16, 8], "layers": [2, 1]}
    metrics = (tmp_path / "run" / "csv" / "metrics.csv").read_text()
    assert "train/loss" in metrics
    path = record["checkpoint"]["path"]
    folder = UWEModule.load_trained(path).export(tmp_path / "model", path)
    metadata = json.loads((folder / "uwe_head.json").read_text())["metadata"]
    assert metadata["matryoshka"] == {"widths": [32, 16, 8], "layers": [2, 1]}
