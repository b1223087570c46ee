"""The reference sizes of WORKBENCH.md, on the real exports in ../shared/data."""

from __future__ import annotations

import json

import pytest

from uwe.data.__main__ import main
from uwe.data.summary import summarize

pytestmark = [pytest.mark.data, pytest.mark.slow]

# WORKBENCH.md gives queries x targets (and pairs) for the test splits; skillsim's 3,813 x 5,713 with 5,899
# pairs is before its 10/90 split (381 + 3,432 queries; 604 + 5,295 pairs). Val sizes and graphs follow the
# protocol's rules and are pinned here so any change to them is seen.
REFERENCE = {
    "job2skill/test": {"queries": 3007, "targets": 13896, "pairs": 123788},
    "job2skill/val": {"queries": 1128, "targets": 13896, "pairs": 36819},
    "skill2job/test": {"queries": 13123, "targets": 3007, "pairs": 123788},
    "skill2job/val": {"queries": 6519, "targets": 1128, "pairs": 36819},
    "jobnorm/test": {"queries": 15172, "targets": 3007, "pairs": 15313},
    "jobnorm/val": {"queries": 15192, "targets": 3007, "pairs": 15302},
    "skill_extraction_house/test": {"queries": 262, "targets": 13891, "pairs": 529},
    "skill_extraction_house/val": {"queries": 61, "targets": 13891, "pairs": 131},
    "skill_extraction_tech/test": {"queries": 338, "targets": 13891, "pairs": 583},
    "skill_extraction_tech/val": {"queries": 75, "targets": 13891, "pairs": 131},
    "skillnorm/test": {"queries": 71538, "targets": 13896, "pairs": 71743},
    "skillnorm/val": {"queries": 1324, "targets": 13896, "pairs": 1356},
    "skillsim/test": {"queries": 3432, "targets": 5713, "pairs": 5295},
    "skillsim/val": {"queries": 381, "targets": 5713, "pairs": 604},
    "onet_job2skill/test": {"queries": 923, "targets": 8768, "pairs": 32627},
    "onet_skill2job/test": {"queries": 8768, "targets": 1016, "pairs": 32627},
    "onet_jobnorm/test": {"queries": 46060, "targets": 1016, "pairs": 56558},
    "graph/vacancy_skill": {"edges": 159058, "left": 4514, "right": 9740},
    "graph/occupation_alias": {"edges": 29845, "left": 29013, "right": 2976},
    "graph/skill_alias": {"edges": 12192, "left": 11914, "right": 11995},
    "graph/skill_description": {"edges": 18081, "left": 17947, "right": 13896},
    "graph/occupation_description": {"edges": 7048, "left": 6808, "right": 3007},
    "graph/skill_group": {"edges": 19968, "left": 2709, "right": 13892},
    "graph/occupation_isco": {"edges": 2962, "left": 422, "right": 2962},
    "graph/skill_hidden": {"edges": 340, "left": 340, "right": 78},
    "graph/skill_template": {"edges": 12594, "left": 12591, "right": 6297},
    "graph/skill_related": {"edges": 5896, "left": 3811, "right": 1965},
    "graph/onet_skill": {"edges": 1592650, "left": 41901, "right": 8768},
}


def test_every_size_matches_the_reference(real_catalog):
    assert summarize(real_catalog, progress=False) == REFERENCE


def test_summary_json_command(real_catalog, capsys):
    assert main(["--root", str(real_catalog.root), "--cache-dir", str(real_catalog.cache_dir), "summary", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == REFERENCE


def test_every_task_records_the_sources_its_registry_entry_names(real_catalog):
    from uwe.data.tasks.registry import TASKS

    for key in real_catalog.task_keys():
        name, split = key.split("/")
        task = real_catalog.task(name, split)
        assert list(task.sources) == list(TASKS[name].sources[split]), key
        assert all(task.sources.values()), key  # each a version and sha256 prefix
    assert list(real_catalog.task("job2skill", "val").sources) == ["esco_v1.1.1_classification", "vacancies"]


def test_protocol_counts_behind_the_sizes(real_catalog):
    # jobnorm: 15,463 rows, one URI outside ESCO v1.1.1 -> 15,462 mapped rows.
    assert real_catalog.task("jobnorm").dropped == {"uri_not_in_esco": 1}
    _, pool, test, val = real_catalog.raw.skill_alias_split
    assert (len(pool), len(test), len(val)) == (13240, 71538, 1324)
    # 9,820 of the 10,137 distinct vacancy skill names are exact ESCO v1.1.1 preferred labels.
    names = {s for skills in real_catalog.raw.vacancies["skill_name"] for s in skills}
    assert len(names) == 10137
    assert len(names & set(real_catalog.task("job2skill").targets)) == 9820
    # skillsim before its split: 3,813 queries x 5,713 targets, 5,899 pairs.
    a, b = real_catalog.task("skillsim", "test"), real_catalog.task("skillsim", "val")
    assert len(a.queries) + len(b.queries) == 3813 and a.n_pairs + b.n_pairs == 5899
    assert a.surrogate and not set(a.queries) & set(b.queries)
    # skill_extraction drops LABEL NOT PRESENT / UNDERSPECIFIED rows and sentences left without a label.
    assert real_catalog.task("skill_extraction_house").dropped == {"no_skill_label": 323, "query_without_label": 64}


def test_default_mix_passes_the_leakage_guard(real_catalog):
    from uwe.data.mix import load_mix

    mix = {g: {"alpha": 1.0, "tau": 0.05} for g in ("vacancy_skill", "occupation_alias", "skill_alias", "skill_description")}
    assert [e.graph.name for e in load_mix(real_catalog, mix)] == list(mix)
