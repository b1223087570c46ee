"""Every task and graph on a hand-made data root; each expected size is worked out in the comment."""

from __future__ import annotations

import pytest

from uwe.data.catalog import Catalog


@pytest.fixture
def catalog(tiny_root, tmp_path):
    return Catalog(tiny_root, cache_dir=tmp_path / "cache")


def test_job2skill_and_inverse(catalog):
    # o1 -> python, statistics; o2 -> bake bread, knead dough; the row for occupation/gone is dropped.
    t = catalog.task("job2skill")
    assert t.queries == ["data scientist", "baker"]
    assert t.targets == ["bake bread", "knead dough", "python", "statistics"]
    assert t.labels == [[2, 3], [0, 1]]
    assert t.dropped == {"unmapped_label": 1}
    inv = catalog.task("skill2job")
    assert inv.targets == ["baker", "data scientist"] and inv.sizes() == {"queries": 4, "targets": 2, "pairs": 4}


def test_jobnorm_merges_stripped_duplicates_and_drops_unknown_uri(catalog):
    # "Baker" and " Baker " are one query; the URI occupation/zz is not in ESCO.
    for split in ("test", "val"):  # test uses vacancyTitle/conceptUri, val the text/label variant
        t = catalog.task("jobnorm", split)
        assert dict(zip(t.queries, t.labels)) == {"Senior Data Scientist": [1], "Baker": [0]}
        assert t.dropped == {"uri_not_in_esco": 1}


def test_skill_extraction_groups_sentences_and_drops_outside_vocabulary(catalog):
    # v1.1.0 has python, statistics, bake bread; "knead dough" is outside it; "Be nice ." has only UNDERSPECIFIED.
    t = catalog.task("skill_extraction_house")
    assert t.targets == ["bake bread", "python", "statistics"]
    assert dict(zip(t.queries, t.labels)) == {"Write Python code .": [1, 2], "Bake and knead .": [0]}
    assert t.dropped == {"no_skill_label": 1, "label_not_in_space": 1, "query_without_label": 1}


def test_skillnorm_class_uniform_split(catalog):
    # Aliases in file order: python programming[py], py3[py], stats[statistics, bake bread],
    # statistical analysis[statistics], bread baking[bake bread], kneading[knead dough].
    # Pool: python programming (py new), stats (statistics new), kneading (knead dough new); the rest is test.
    t = catalog.task("skillnorm", "test")
    assert dict(zip(t.queries, t.labels)) == {"py3": [2], "statistical analysis": [3], "bread baking": [0]}
    # round(0.1 * 3) = 0 aliases validate, so the whole pool trains.
    assert catalog.task("skillnorm", "val").queries == []
    g = catalog.graph("skill_alias")
    assert sorted(g.pairs()) == [("kneading", "knead dough"), ("python programming", "python"),
                                 ("stats", "bake bread"), ("stats", "statistics")]


def test_skillsim_surrogate_is_marked(catalog):
    t = catalog.task("skillsim", "test")
    assert t.surrogate and "NOT SkillMatch-1K" in t.surrogate
    assert t.targets == ["bake bread", "knead dough", "python", "statistics"]
    assert t.sizes() == {"queries": 2, "targets": 4, "pairs": 2}


def test_vacancy_val_maps_exact_labels_only(catalog):
    # 10 titles, 20% = 2 validate; each has one exact label ("statistics " with a space and
    # "old v1.2 skill" do not map).
    t = catalog.task("job2skill", "val")
    assert t.sizes() == {"queries": 2, "targets": 4, "pairs": 2}
    assert t.dropped == {"unmapped_label": 2}
    g = catalog.graph("vacancy_skill")
    assert g.sizes() == {"edges": 16, "left": 8, "right": 4}  # 8 train titles x 2, names stripped
    assert not set(g.left) & set(t.queries)


def test_onet_tasks(catalog):
    assert catalog.task("onet_job2skill").sizes() == {"queries": 2, "targets": 2, "pairs": 3}
    assert catalog.task("onet_skill2job").sizes() == {"queries": 2, "targets": 2, "pairs": 3}
    norm = catalog.task("onet_jobnorm")
    assert dict(zip(norm.queries, norm.labels)) == {"CEO": [0, 1], "ML Scientist": [1]}


def test_alias_and_description_graphs(catalog):
    # "b" is one character and "data scientist" is the occupation's own label: both dropped.
    assert sorted(catalog.graph("occupation_alias").pairs()) == [
        ("bread maker", "baker"), ("data analyst", "data scientist"),
        ("ml engineer", "data scientist"), ("pastry baker", "baker"),
    ]
    assert sorted(catalog.graph("skill_description").pairs()) == [
        ("Apply statistics.", "statistics"), ("Knead dough by hand.", "knead dough"),
        ("Use Python.", "python"), ("Write scripts.", "python"),
    ]


def test_warm_cache_returns_the_same_objects_and_edits_invalidate(tiny_root, tmp_path):
    cold = Catalog(tiny_root, cache_dir=tmp_path / "c").task("jobnorm")
    assert list((tmp_path / "c" / "tasks").glob("jobnorm-test-*.safetensors"))
    warm = Catalog(tiny_root, cache_dir=tmp_path / "c").task("jobnorm")
    assert warm == cold
    f = tiny_root / "jobbert_eval" / "titles.test.csv"
    f.write_text(f.read_text().replace("Senior Data Scientist", "Lead Data Scientist"))
    edited = Catalog(tiny_root, cache_dir=tmp_path / "c").task("jobnorm")
    assert "Lead Data Scientist" in edited.queries
    assert len(list((tmp_path / "c" / "tasks").glob("jobnorm-test-*.safetensors"))) == 2


def test_no_cache_writes_nothing(tiny_root, tmp_path):
    Catalog(tiny_root, cache_dir=tmp_path / "c", use_cache=False).graph("skill_alias")
    assert not (tmp_path / "c").exists()
