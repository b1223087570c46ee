"""The extra training graphs (task_mix=all_plus): hand-made data worked out by hand, then the real sizes."""

from __future__ import annotations

import pandas as pd
import pytest
from omegaconf import OmegaConf

from uwe.data.catalog import Catalog
from uwe.data.graphs import DEFAULT_GRAPHS, EXTRA_GRAPHS, GRAPHS, GraphSpec
from uwe.data.mix import evaluated_tasks, load_mix, parse_mix
from uwe.data.skill_templates import LABEL_TEMPLATES, template_pairs
from uwe.data.tasks.registry import WORKBENCH_TASKS, ZERO_SHOT_TASKS
from tests.test_config import compose_train

NEW = ["occupation_description", "skill_group", "occupation_isco", "skill_hidden", "skill_template"]


@pytest.fixture
def catalog(tiny_root, tmp_path):
    return Catalog(tiny_root, cache_dir=tmp_path / "cache")


def test_defaults_stay_the_four_and_all_plus_adds_every_extra():
    assert DEFAULT_GRAPHS == ["vacancy_skill", "occupation_alias", "skill_alias", "skill_description"]
    assert EXTRA_GRAPHS == NEW and not any(GRAPHS[g].opt_in or GRAPHS[g].is_test_of for g in NEW)
    mix = parse_mix(OmegaConf.to_container(compose_train("task_mix=all_plus").task_mix.graphs))
    assert list(mix) == DEFAULT_GRAPHS + NEW
    assert all((mix[g].alpha, mix[g].tau, mix[g].fraction) == (0.5, 0.02, 1.0) for g in NEW)
    assert list(compose_train("task_mix=all").task_mix.graphs) == DEFAULT_GRAPHS
    # Nothing in all_plus IS a test set, so no zero-shot task is left out of evaluation.
    assert evaluated_tasks(mix) == WORKBENCH_TASKS + ZERO_SHOT_TASKS
    with pytest.raises(ValueError, match="opt-in graph is a test set"):
        GraphSpec("x", lambda raw: [], (), opt_in=True, default=True)


def test_description_isco_and_hidden_graphs(catalog):
    assert sorted(catalog.graph("occupation_description").pairs()) == [
        ("Analyse data.", "data scientist"), ("Bake bread.", "baker"),
    ]
    # Unit groups 2511 and 7512; the major group "2" names no occupation. Labels are stripped.
    assert sorted(catalog.graph("occupation_isco").pairs()) == [
        ("Bakers, pastry-cooks and confectionery makers", "baker"), ("Systems analysts", "data scientist"),
    ]
    # "python programming" and "Stats" (lower-cased) are alt labels, i.e. SkillNorm aliases: left out.
    assert sorted(catalog.graph("skill_hidden").pairs()) == [
        ("dough kneading", "knead dough"), ("kneading dough", "knead dough"), ("pyhton", "python"),
    ]


def test_skill_group_drops_test_pairs_and_group_rows(catalog):
    # Five skill rows: (bread baking, bake bread) is a skillnorm test pair and (bake bread, knead dough) a
    # skillsim test pair, so both go; the group -> group row is not a skill's.
    g = catalog.graph("skill_group")
    assert sorted(g.pairs()) == [
        ("bread baking", "knead dough"), ("computer programming", "python"), ("computer programming", "statistics"),
    ]
    assert g.dropped == {"equals_test_pair": 2}
    assert g.sizes() == {"edges": 3, "left": 2, "right": 3}


def test_skill_template_covers_only_rare_skills(catalog):
    # The 8 train titles give python, statistics and bake bread at least 3 titles each; knead dough has none.
    # It is a skill/competence: a verb-phrase label template and its first description sentence, lower-cased.
    assert list(catalog.graph("skill_template").pairs()) == [
        ("You will knead dough.", "knead dough"), ("Your tasks: knead dough by hand.", "knead dough"),
    ]


def test_template_pairs_degree_boundary_and_seed():
    skills = pd.DataFrame({
        "preferredLabel": ["a", "b", "c"],
        "skillType": ["knowledge", "", "skill/competence"],
        "description": ["A thing. More.", "", "Do IT work."],
    })
    pairs = template_pairs(skills, {"a": 1, "b": 0, "c": 2}, seed=42)
    assert [s for _, s in pairs] == ["a", "a", "b"]  # degree 1 is rare, 2 is not; b has no description
    assert pairs[1][0].endswith(" a thing.")
    assert pairs[2][0] in [t.format(label="b") for t in LABEL_TEMPLATES["knowledge"]]  # untyped reads as knowledge
    assert template_pairs(skills, {}, seed=42)[-1][0].endswith(" do IT work.")
    assert pairs == template_pairs(skills, {"a": 1, "b": 0, "c": 2}, seed=42)


def test_all_plus_passes_the_guard_on_tiny_data(catalog):
    mix = OmegaConf.to_container(compose_train("task_mix=all_plus").task_mix.graphs)
    assert [e.graph.name for e in load_mix(catalog, mix)] == DEFAULT_GRAPHS + NEW


# On the real exports ------------------------------------------------------------------------------------------

REAL = {  # sizes after the test pairs are removed, and the removed count
    "occupation_description": ({"edges": 7048, "left": 6808, "right": 3007}, {}),
    "skill_group": ({"edges": 19968, "left": 2709, "right": 13892}, {"equals_test_pair": 27}),
    "occupation_isco": ({"edges": 2962, "left": 422, "right": 2962}, {"equals_test_pair": 45}),
    "skill_hidden": ({"edges": 340, "left": 340, "right": 78}, {"equals_test_pair": 1}),
    "skill_template": ({"edges": 12594, "left": 12591, "right": 6297}, {}),
}


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("name", NEW)
def test_real_sizes_and_drops(real_catalog, name):
    g = real_catalog.graph(name)
    assert (g.sizes(), g.dropped) == REAL[name]


@pytest.mark.data
@pytest.mark.slow
def test_real_raw_counts_behind_the_sizes(real_catalog):
    raw = real_catalog.raw
    # Every one of the 20,013 skill rows of broaderRelationsSkillPillar maps (13,448 to a group, 6,565 to a
    # broader skill); 18 repeat a (label, label) pair.
    assert len(GRAPHS["skill_group"].pairs(raw)) == 20013
    # Every occupation's iscoGroup is a unit group of ISCOGroups_en.csv (426 of its 436 are used).
    assert len(GRAPHS["occupation_isco"].pairs(raw)) == 3007
    # 918 hidden labels, 577 of them also alt labels (SkillNorm aliases).
    assert len(GRAPHS["skill_hidden"].pairs(raw)) == 918 - 577
    # 6,297 skills have at most one train vacancy title; each has a description, so two sentences each.
    assert len(GRAPHS["skill_template"].pairs(raw)) == 2 * 6297


@pytest.mark.data
@pytest.mark.slow
def test_real_all_plus_passes_the_leakage_guard_with_every_test_task(real_catalog):
    mix = OmegaConf.to_container(compose_train("task_mix=all_plus").task_mix.graphs)
    assert evaluated_tasks(parse_mix(mix)) == WORKBENCH_TASKS + ZERO_SHOT_TASKS
    assert [e.graph.name for e in load_mix(real_catalog, mix)] == DEFAULT_GRAPHS + NEW
