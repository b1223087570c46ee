"""The class-uniform split on a hand-made example, the seeded split, and the leakage guard."""

from __future__ import annotations

import pytest

from uwe.data.catalog import Catalog
from uwe.data.graph import build_graph
from uwe.data.leakage import LeakageError, check_no_leakage
from uwe.data.mix import evaluated_tasks, load_mix
from uwe.data.splits import class_uniform_split, seeded_split


def test_class_uniform_split_by_hand():
    aliases = [
        ("a1", ["A"]),        # A has none in the pool -> pool; A=1
        ("a2", ["A"]),        # A has one -> test; A=2
        ("ab", ["A", "B"]),   # B has none -> pool; A=3, B=1
        ("b2", ["B"]),        # test; B=2
        ("c1", ["C"]),        # pool; C=1
        ("bc", ["B", "C"]),   # both have one -> test
    ]
    assert class_uniform_split(aliases) == (["a1", "ab", "c1"], ["a2", "b2", "bc"])


def test_seeded_split_is_reproducible_and_order_free():
    items = [f"t{i}" for i in range(100)]
    val, train = seeded_split(items, 0.2, seed=42)
    assert len(val) == 20 and len(train) == 80 and not set(val) & set(train)
    assert seeded_split(list(reversed(items)) + items[:5], 0.2, seed=42) == (val, train)
    assert seeded_split(items, 0.2, seed=1)[0] != val


def test_guard_catches_a_planted_leak_in_both_directions(tiny_root):
    c = Catalog(tiny_root, use_cache=False)
    tasks = [c.task("job2skill"), c.task("jobnorm")]
    check_no_leakage([c.graph("skill_description")], tasks)
    forward = build_graph("planted", [("ok text", "python"), ("Data Scientist ", "PYTHON")])
    with pytest.raises(LeakageError, match=r"graph planted: 1 edge\(s\).*\('Data Scientist', 'PYTHON'\) in job2skill/test"):
        check_no_leakage([forward], tasks)
    backward = build_graph("reversed", [("baker", "baker"), ("knead dough", "baker")])
    with pytest.raises(LeakageError, match=r"graph reversed: 2 edge\(s\)"):
        check_no_leakage([backward], tasks)


def test_opt_in_graph_is_refused_while_its_task_is_evaluated(tiny_root):
    c = Catalog(tiny_root, use_cache=False)
    related = {"skill_related": {"alpha": 0.5, "tau": 0.02}}
    with pytest.raises(LeakageError, match="graph skill_related: 2 edge"):
        load_mix(c, related)
    assert [e.graph.name for e in load_mix(c, related, tasks=["job2skill", "jobnorm"])] == ["skill_related"]


def test_onet_mix_drops_zero_shot_tasks_from_evaluation():
    assert "onet_jobnorm" in evaluated_tasks({"vacancy_skill": (1, 0.05)})
    assert not any(t.startswith("onet") for t in evaluated_tasks({"onet_skill": (1, 0.05)}))


def test_graphs_never_hold_a_test_pair(tiny_root):
    # "bread baking" is a skillnorm test alias of "bake bread": a graph built from it would leak.
    c = Catalog(tiny_root, use_cache=False)
    tests = [c.task(k.split("/")[0]) for k in c.task_keys("test")]
    check_no_leakage([c.graph(g) for g in ("vacancy_skill", "occupation_alias", "skill_alias", "skill_description")], tests)
