"""RankPO (loss=rankpo), its preference triples, mined negatives and the second-stage run on the tiny root."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from uwe.config import ConfigError, check_train_config
from uwe.data.graph import build_graph
from uwe.data.leakage import LeakageError
from uwe.models.heads import build_head
from uwe.models.losses import LOSSES, RankPOLoss, rankpo_advantage, rankpo_losses
from uwe.train.mining import FalseNegativeGuard, mine_negatives, take_negatives
from uwe.train.preferences import (
    PreferenceError,
    Triples,
    build_triples,
    check_no_triple_leakage,
    drop_test_pairs,
    hard_negative_triples,
    occurrence_triples,
    reference_scores,
)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# policy (chosen, rejected) and reference (chosen, rejected) scores of two triples
POLICY = torch.tensor([[0.8, 0.5], [0.2, 0.4]], dtype=torch.float64)
REF = torch.tensor([[0.7, 0.6], [0.3, 0.3]], dtype=torch.float64)


def test_rankpo_sigmoid_loss_by_hand():
    # a = ((c - r) - (c_ref - r_ref)) / T - gamma, T = 0.1, gamma = 0.5: a0 = (0.3 - 0.1)/0.1 - 0.5 = 1.5,
    # a1 = (-0.2 - 0)/0.1 - 0.5 = -2.5; beta = 2: losses softplus(-3) and softplus(5).
    loss = RankPOLoss(beta=2.0, gamma=0.5, temperature=0.1)(POLICY, REF)
    assert loss.item() == pytest.approx((softplus(-3.0) + softplus(5.0)) / 2, abs=1e-12)


def test_rankpo_hinge_label_smoothing_and_reference_free_by_hand():
    a = rankpo_advantage(POLICY[:, 0], POLICY[:, 1], REF[:, 0], REF[:, 1], temperature=0.1, gamma=0.5)
    assert a.tolist() == pytest.approx([1.5, -2.5])
    # hinge max(0, 1 - beta a), beta 2: max(0, -2) = 0 and max(0, 6) = 6
    assert rankpo_losses(a, beta=2.0, kind="hinge").tolist() == pytest.approx([0.0, 6.0])
    # label smoothing 0.2: 0.8 softplus(-beta a) + 0.2 softplus(beta a)
    smoothed = rankpo_losses(a, beta=2.0, label_smoothing=0.2)
    assert smoothed.tolist() == pytest.approx([0.8 * softplus(-3) + 0.2 * softplus(3), 0.8 * softplus(5) + 0.2 * softplus(-5)])
    # reference-free: a0 = 0.3/0.1 = 3, a1 = -0.2/0.1 = -2, beta 1
    free = RankPOLoss(beta=1.0, temperature=0.1, reference_free=True)(POLICY, None)
    assert free.item() == pytest.approx((softplus(-3.0) + softplus(2.0)) / 2, abs=1e-12)


def test_rankpo_contrastive_term_by_hand():
    # + w * CE([c, r] / T, chosen): row 0: -log(e^8 / (e^8 + e^5)) = softplus(-3); row 1: softplus(2)
    base = RankPOLoss(beta=2.0, temperature=0.1)(POLICY, REF)
    both = RankPOLoss(beta=2.0, temperature=0.1, contrastive_weight=0.5)(POLICY, REF)
    assert (both - base).item() == pytest.approx(0.5 * (softplus(-3.0) + softplus(2.0)) / 2, abs=1e-12)


def test_rankpo_gradient_raises_chosen_and_lowers_rejected():
    scores = POLICY.clone().requires_grad_(True)
    RankPOLoss()(scores, REF).backward()
    assert (scores.grad[:, 0] < 0).all() and (scores.grad[:, 1] > 0).all()


@pytest.mark.parametrize("kwargs", [{"kind": "softmax"}, {"kind": "hinge", "label_smoothing": 0.1},
                                    {"label_smoothing": 0.5}, {"beta": 0.0}, {"temperature": -1.0}])
def test_rankpo_bad_options_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        RankPOLoss(**kwargs)


def test_rankpo_is_registered_as_a_triple_loss():
    assert LOSSES["rankpo"] is RankPOLoss and RankPOLoss.triples


# --- mined negatives -------------------------------------------------------------------------------------------

def test_take_negatives_keeps_order_and_pads():
    cand = np.array([[3, 1, 2, 0], [0, 1, 2, 3]])
    excl = np.array([[False, True, False, True], [True, True, True, True]])
    assert take_negatives(cand, excl, 3).tolist() == [[3, 2, -1], [-1, -1, -1]]


def _skills_graphs():
    job_skill = build_graph("vacancy_skill", [("data scientist", "python"), ("data scientist", "statistics"),
                                              ("baker", "bake bread")])
    alias = build_graph("skill_alias", [("py", "python"), ("python programming", "python"),
                                        ("bread baking", "bake bread")])
    # a second graph where "data scientist" is linked to "machine learning": a positive under ANY graph
    other = build_graph("occupation_description", [("data scientist", "machine learning")])
    return job_skill, alias, other


def test_guard_refuses_positives_of_any_graph_and_their_aliases():
    job_skill, alias, other = _skills_graphs()
    guard = FalseNegativeGuard([job_skill, alias, other])
    assert guard.is_false_negative("data scientist", "python")          # an edge
    assert guard.is_false_negative("Data Scientist ", "PY")             # an alias of a positive, any case
    assert guard.is_false_negative("data scientist", "machine learning")  # a positive in another graph
    assert not guard.is_false_negative("data scientist", "bake bread")
    assert not guard.is_false_negative("baker", "python")


def test_mined_negatives_never_include_a_positive_or_its_alias():
    """A tiny encoder ranks every skill; whatever it ranks high, the guard's refusals never come back."""
    job_skill = build_graph("vacancy_skill", [("data scientist", "python"), ("data scientist", "statistics"),
                                              ("baker", "bake bread"), ("analyst", "statistics"),
                                              ("pastry chef", "knead dough"), ("x", "python programming"),
                                              ("y", "py"), ("z", "bread baking"), ("w", "machine learning")])
    alias = build_graph("skill_alias", [("py", "python"), ("python programming", "python"),
                                        ("bread baking", "bake bread")])
    other = build_graph("occupation_description", [("data scientist", "machine learning")])
    guard = FalseNegativeGuard([job_skill, other], alias_graphs=[alias])
    from uwe.models.encoder import TextEncoder

    torch.manual_seed(0)
    encoder = TextEncoder.from_name("tiny")
    mined = mine_negatives(encoder, build_head("cosine"), job_skill, guard, k=3)
    assert mined.shape == (len(job_skill.left), 3)
    for i, row in enumerate(mined):
        for j in row[row >= 0]:
            assert not guard.is_false_negative(job_skill.left[i], job_skill.right[j])
    ds = job_skill.left.index("data scientist")
    refused = {"python", "statistics", "python programming", "py", "machine learning"}
    assert not refused & {job_skill.right[j] for j in mined[ds] if j >= 0}
    # 8 skills, 5 refused for "data scientist": exactly 3 remain
    assert (mined[ds] >= 0).sum() == 3
    with pytest.raises(ValueError, match="not in \\[1, 8\\]"):
        mine_negatives(encoder, build_head("cosine"), job_skill, guard, k=9)


# --- preference triples ----------------------------------------------------------------------------------------

GRADES = pd.DataFrame(
    [("t1", "a", 1.0, 0.6), ("t1", "b", 0.5, 0.9), ("t1", "c", 0.5, 0.85), ("t1", "d", 0.5, 0.7),
     ("t2", "a", 1.0, 0.6), ("t2", "b", 1.0, 0.55), ("val title", "a", 1.0, 0.9), ("val title", "b", 0.2, 0.5)],
    columns=["title", "skill_name", "occurrence", "prob"])


def test_occurrence_triples_by_hand():
    # t1: a (occ 1) over b, c, d; b over d (same occ, prob gap 0.2); b-c (gap 0.05) and c-d (0.15) -> c over d.
    # t2: same occurrence, gap 0.05: none. "val title" is not in the graph (a val title): never used.
    graph = build_graph("vacancy_skill", [("t1", s) for s in "abcd"] + [("t2", "a"), ("t2", "b")])
    triples = occurrence_triples(GRADES, graph, per_query=10, min_prob_gap=0.1)
    got = sorted(zip(triples.queries, triples.chosen, triples.rejected))
    assert got == [("t1", "a", "b"), ("t1", "a", "c"), ("t1", "a", "d"), ("t1", "b", "d"), ("t1", "c", "d")]
    assert len(occurrence_triples(GRADES, graph, per_query=2)) == 2


def test_hard_negative_triples_take_a_positive_over_a_mined_negative():
    graph = build_graph("g", [("q0", "a"), ("q0", "b"), ("q1", "c")])
    triples = hard_negative_triples(graph, np.array([[2, -1], [-1, -1]]), np.array([0, 1]))
    assert list(zip(triples.queries, triples.rejected)) == [("q0", "c")] and triples.chosen[0] in ("a", "b")


def test_triples_respect_the_leakage_guard():
    triples = Triples(["q", "Q2", "q3"], ["a", "b", "c"], ["x", "y", "z"], ["s"] * 3)
    # test_pair_set's form: each test pair in both directions; the second is a test pair (z, q3)
    test_pairs = {("q2", "b"): "jobnorm/test", ("b", "q2"): "jobnorm/test",
                  ("z", "q3"): "skillsim/test", ("q3", "z"): "skillsim/test"}
    with pytest.raises(LeakageError, match="2 preference pair"):
        check_no_triple_leakage(triples, test_pairs)
    kept = drop_test_pairs(triples, test_pairs)
    assert kept.queries == ["q"] and kept.dropped == {"test_pair": 2}
    check_no_triple_leakage(kept, test_pairs)


def test_a_source_that_yields_nothing_is_named():
    empty = lambda options: Triples([], [], [], [])  # noqa: E731
    with pytest.raises(PreferenceError, match="'occurrence' yields no triple"):
        build_triples({"occurrence": {"per_query": 1}}, {"occurrence": empty}, {})
    with pytest.raises(PreferenceError, match="unknown preference source"):
        build_triples({"nope": {}}, {"occurrence": empty}, {})
    with pytest.raises(PreferenceError, match="has no source"):
        build_triples({"occurrence": None}, {"occurrence": empty}, {})


def test_reference_scores_are_the_models_cosines_without_gradient():
    from uwe.models.encoder import TextEncoder

    torch.manual_seed(0)
    encoder = TextEncoder.from_name("tiny")
    triples = Triples(["data scientist", "baker"], ["python", "bake bread"], ["bake bread", "python"], ["s", "s"])
    ref = reference_scores(encoder, build_head("cosine"), triples)
    e = encoder.encode(["data scientist", "python", "bake bread"], show_progress=False).pooled
    e = torch.nn.functional.normalize(e, dim=1)
    assert ref[0].tolist() == pytest.approx([float(e[0] @ e[1]), float(e[0] @ e[2])], abs=1e-5)
    assert not ref.requires_grad


@pytest.mark.parametrize("head", ["cosine", "soft_li"])
def test_reference_scores_do_not_depend_on_how_the_triples_are_chunked(head):
    from uwe.models.encoder import TextEncoder

    torch.manual_seed(0)
    encoder = TextEncoder.from_name("tiny", pooling="tokens" if head == "soft_li" else "mean")
    queries = ["data scientist", "baker", "data scientist", "nurse", "baker"]
    triples = Triples(queries, ["python", "bake bread", "sql", "care", "knead dough"],
                      ["bake bread", "python", "care", "sql", "python"], ["s"] * 5)
    whole = reference_scores(encoder, build_head(head), triples)
    assert whole.shape == (5, 2)
    torch.testing.assert_close(reference_scores(encoder, build_head(head), triples, batch=2, chunk=3), whole,
                               rtol=0, atol=1e-5)
    one = encoder.encode(["nurse", "care", "sql"], show_progress=False)
    torch.testing.assert_close(whole[3], build_head(head)(one[:1], one[1:]).reshape(2), rtol=0, atol=1e-5)


# --- the second stage end to end (tiny encoder, hand-made root) -------------------------------------------------

@pytest.fixture(scope="module")
def stage1(tiny_root_module, tmp_path_factory):
    """A 2-step stage-1 run on the tiny root: its checkpoint starts every stage-2 test."""
    from test_train import compose_train

    from uwe.train.run import train

    tmp = tmp_path_factory.mktemp("stage1")
    record = train(compose_train(tmp, tiny_root_module, "trainer.max_steps=2", "val.every_n_steps=2"))
    return tiny_root_module, record["checkpoint"]["path"]


@pytest.fixture(scope="module")
def tiny_root_module(tmp_path_factory):
    from conftest import write_root

    return write_root(tmp_path_factory.mktemp("tiny"))


def _stage2_cfg(tmp_path, root, ckpt, *overrides):
    from test_train import compose_train

    return compose_train(tmp_path, root, "loss=rankpo", f"init_from={ckpt}", "batch.triples=4",
                         "preferences=both", "preferences.sources.hard_negatives.k=2", *overrides)


@pytest.mark.slow
def test_second_stage_trains_from_the_checkpoint_and_records_its_preferences(stage1, tmp_path):
    from uwe.train.run import train

    root, ckpt = stage1
    record = train(_stage2_cfg(tmp_path, root, ckpt, "trainer.max_steps=3", "val.every_n_steps=3", "val.at_start=true"))
    assert [p["step"] for p in record["val_curve"]] == [0, 3]  # the reference's own score starts the curve
    prefs = record["preferences"]
    assert prefs["by_source"]["occurrence"] > 0 and any(k.startswith("hard_negatives/") for k in prefs["by_source"])
    assert prefs["triples"] == sum(prefs["by_source"].values()) and 0 <= prefs["reference_accuracy"] <= 1
    assert record["checkpoint"]["global_step"] == 3 and 0 < record["macro"]["map"] <= 1


@pytest.mark.slow
def test_the_reference_stays_frozen_while_the_policy_moves(stage1, tmp_path):
    from uwe.data.catalog import Catalog
    from uwe.data.mix import load_mix
    from uwe.models.checkpoint import load_checkpoint
    from uwe.train.run import build_module
    from uwe.train.second_stage import load_initial_weights, prepare_triples

    root, ckpt = stage1
    cfg = _stage2_cfg(tmp_path, root, ckpt)
    catalog = Catalog.from_config(cfg.data)
    mix = load_mix(catalog, dict(cfg.task_mix.graphs))
    module = build_module(cfg, mix)
    load_initial_weights(module, ckpt)
    triples = prepare_triples(cfg, catalog, mix, module)
    module.attach_preferences(triples, [])
    before = {k: v.clone() for k, v in module.state_dict().items()}
    reference = triples.reference.clone()
    optimizer = torch.optim.SGD(module.parameters(), lr=1.0)
    module.train()
    batch = module._batches[0]
    loss = module.preference_loss(batch)
    loss.backward()
    assert batch.reference.grad is None and not batch.reference.requires_grad
    optimizer.step()
    moved = [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]
    assert moved, "the policy did not move"
    assert torch.equal(triples.reference, reference)  # the reference scores are data, not a model output
    encoder, head, _ = load_checkpoint(ckpt)  # the starting model still scores the triples as the reference
    assert torch.allclose(reference_scores(encoder, head, triples), reference, atol=1e-5)


def test_rankpo_without_init_from_is_refused_before_any_work(tmp_path):
    from test_train import compose_train

    cfg = compose_train(tmp_path, tmp_path, "loss=rankpo")
    with pytest.raises(ConfigError, match="init_from=<stage-1"):
        check_train_config(cfg)
    cfg = compose_train(tmp_path, tmp_path, "loss=rankpo", f"init_from={tmp_path / 'missing.ckpt'}")
    with pytest.raises(ConfigError, match="missing.ckpt: no such file"):
        check_train_config(cfg)


@pytest.mark.slow
def test_init_from_a_model_of_another_head_is_one_clear_error(stage1, tmp_path):
    from uwe.errors import UserError
    from uwe.train.run import train

    root, ckpt = stage1
    with pytest.raises(UserError, match="was trained with the head"):
        train(_stage2_cfg(tmp_path, root, ckpt, "head=soft_li", "pooling=tokens", "trainer.max_steps=1"))


# --- mined negatives in the contrastive stage -------------------------------------------------------------------

def test_sampler_appends_mined_negatives_as_columns():
    from uwe.train.sampler import GraphSampler

    graph = build_graph("g", [("q0", "a"), ("q1", "b"), ("q1", "c"), ("q2", "d"), ("q3", "e")])
    sampler = GraphSampler(graph, nodes=2)
    plain = sampler.sample(np.random.default_rng(0))
    sampler.negatives = 1
    sampler.mined = np.array([[3, 4], [0, -1], [-1, -1], [1, 2]])  # q2 has no negative
    mined = sampler.sample(np.random.default_rng(0))
    n = len(plain.right)
    assert mined.right[:n] == plain.right and torch.equal(mined.pairs, plain.pairs)  # same sampled nodes
    extra = mined.right_ids[n:].tolist()
    assert len(extra) == len(set(extra)) and not set(extra) & set(plain.right_ids.tolist())
    pools = {int(i): set(sampler.mined[i][sampler.mined[i] >= 0].tolist()) for i in mined.left_ids}
    assert set(extra) <= set().union(*pools.values())
    pos = sampler.positives(mined.left_ids, mined.right_ids)
    assert pos.shape == (len(mined.left), len(mined.right))


def test_mining_options_are_checked_before_any_work(tmp_path):
    from test_train import compose_train

    with pytest.raises(ConfigError, match="mining.negatives=5 is more than mining.pool=3"):
        check_train_config(compose_train(tmp_path, tmp_path, "mining=hard", "mining.negatives=5", "mining.pool=3"))
    with pytest.raises(ConfigError, match="mining.negatives=-1"):
        check_train_config(compose_train(tmp_path, tmp_path, "mining=hard", "mining.negatives=-1"))


@pytest.mark.slow
def test_stage_one_with_mined_negatives_trains_and_keeps_its_pools(tiny_root_module, tmp_path):
    from test_train import compose_train

    from uwe.models.checkpoint import read_checkpoint
    from uwe.train.run import train

    record = train(compose_train(tmp_path, tiny_root_module, "mining=hard", "mining.pool=2", "trainer.max_steps=3",
                                 "val.every_n_steps=3"))
    assert record["checkpoint"]["global_step"] == 3
    entries = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt").entries
    assert set(entries["uwe_mined"]) == {"vacancy_skill", "occupation_alias", "skill_alias", "skill_description"}
    assert all(m.shape[1] <= 2 for m in entries["uwe_mined"].values())
