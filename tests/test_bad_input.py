"""Each kind of bad input gets a clear error naming the file or value, or a counted drop."""

from __future__ import annotations

import logging
import math
import zipfile

import pandas as pd
import pytest

from uwe.data.__main__ import main
from uwe.data.catalog import Catalog
from uwe.data.errors import DataError, MissingFilesError, UnknownNameError
from uwe.data.readers.archive import open_bytes
from uwe.data.readers.skillmatch import read_skillmatch
from uwe.data.readers.vacancies import read_vacancies
from uwe.data.task import build_task
from tests.conftest import SKILLS


def test_missing_files_are_all_listed_with_where_to_get_them(tmp_path):
    with pytest.raises(MissingFilesError) as e:
        Catalog(tmp_path / "nowhere").require(Catalog(tmp_path).task_keys(), ["vacancy_skill"])
    msg = str(e.value)
    assert len(e.value.missing) == 15  # 2+2 ESCO v1.1.1, 1 v1.1.0, 2 titles, 4 annotations, 1 parquet, 3 O*NET
    assert "esco.ec.europa.eu" in msg and "onetcenter.org" in msg and "TechWolf/JobBERT-evaluation-dataset" in msg
    assert str(tmp_path / "nowhere" / "onet" / "29.2" / "Technology Skills.txt") in msg


def test_summary_command_reports_missing_files_without_traceback(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "--cache-dir", str(tmp_path / "c"), "summary"]) == 2
    err = capsys.readouterr().err
    # the 15 above plus the ESCO hierarchy files of the extra graphs: ISCOGroups, skillGroups, broaderRelationsSkillPillar
    assert err.startswith("python -m uwe.data: error: 18 source file(s) missing") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_zip_without_the_expected_csv(tiny_root, tmp_path):
    esco = tiny_root / "esco" / "v1.1.1"
    (esco / "classification.zip").unlink()
    with zipfile.ZipFile(esco / "classification.zip", "w") as zf:
        zf.writestr("ISCOGroups_en.csv", "a,b\n1,2\n")
    with pytest.raises(MissingFilesError, match="skills_en.csv"):
        Catalog(tiny_root, cache_dir=tmp_path / "c").task("job2skill")
    with pytest.raises(DataError, match="holds no skills_en.csv.*ISCOGroups_en.csv"):
        open_bytes(esco / "classification.zip", "skills_en.csv")


def test_missing_column_names_file_and_column(tiny_root, tmp_path):
    esco = tiny_root / "esco" / "v1.1.1"
    (esco / "classification.zip").unlink()
    with zipfile.ZipFile(esco / "classification.zip", "w") as zf:
        zf.writestr("skills_en.csv", SKILLS.drop(columns=["altLabels"]).to_csv(index=False))
        zf.writestr("occupations_en.csv", "conceptUri\nx\n")
    with pytest.raises(DataError, match=r"classification.zip:skills_en.csv: missing column\(s\) \['altLabels'\]"):
        Catalog(tiny_root, cache_dir=tmp_path / "c").task("skillnorm")


def test_empty_and_nan_texts_are_dropped_and_counted():
    t = build_task("x", "test", [("q", "a"), ("", "a"), ("q2", math.nan), (None, "b"), ("q3", "  ")], ["a", "b"])
    assert t.queries == ["q"] and t.dropped == {"empty_text": 4}


def test_label_outside_target_space_is_counted_or_refused():
    pairs = [("q", "a"), ("q", "zzz"), ("r", "zzz")]
    t = build_task("x", "test", pairs, ["a"])
    assert t.dropped == {"label_not_in_space": 2, "query_without_label": 1} and t.queries == ["q"]
    with pytest.raises(DataError, match=r"1 label\(s\) are not in the target space.*zzz|2 label"):
        build_task("x", "test", pairs, ["a"], unknown_labels="raise")


def test_duplicate_targets(tiny_root, tmp_path, caplog):
    esco = tiny_root / "esco" / "v1.1.1"
    dup = pd.concat([SKILLS, SKILLS.iloc[[0]]])
    (esco / "classification.zip").unlink()
    with zipfile.ZipFile(esco / "classification.zip", "w") as zf:
        zf.writestr("skills_en.csv", dup.to_csv(index=False))
        zf.writestr("occupations_en.csv", "conceptUri,preferredLabel,altLabels,hiddenLabels,description\n")
    with pytest.raises(DataError, match="duplicate conceptUri 'http://data.europa.eu/esco/skill/s1'"):
        Catalog(tiny_root, cache_dir=tmp_path / "c").task("skillnorm")
    same_label = SKILLS.assign(preferredLabel=["python", "python", "bake bread", "knead dough"])
    (esco / "classification.zip").unlink()
    with zipfile.ZipFile(esco / "classification.zip", "w") as zf:
        zf.writestr("skills_en.csv", same_label.to_csv(index=False))
        zf.writestr("occupations_en.csv", "conceptUri,preferredLabel,altLabels,hiddenLabels,description\n")
    with caplog.at_level(logging.WARNING):
        t = Catalog(tiny_root, cache_dir=tmp_path / "c2").task("skillnorm")
    assert len(t.targets) == 3 and "1 concept(s) share a preferred label" in caplog.text


def test_unknown_task_graph_and_split(tiny_root):
    c = Catalog(tiny_root, use_cache=False)
    with pytest.raises(UnknownNameError, match="unknown task 'jobnrom'; valid: job2skill, jobnorm"):
        c.task("jobnrom")
    with pytest.raises(UnknownNameError, match="unknown split of task onet_jobnorm 'val'; valid: test"):
        c.task("onet_jobnorm", "val")
    with pytest.raises(UnknownNameError, match="unknown graph 'skills'"):
        c.graph("skills")


def test_bad_parquet(tmp_path):
    bad = tmp_path / "job_skill_val.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match="job_skill_val.parquet: cannot be read as parquet"):
        read_vacancies(bad)


def test_skillmatch_reader_and_task(tiny_root, tmp_path):
    f = tmp_path / "skillmatch.csv"
    pairs = [(f"skill {i}", f"other {i % 7}", str(i % 2)) for i in range(40)]
    pd.DataFrame(pairs, columns=["skill_a", "skill_b", "related"]).to_csv(f, index=False)
    assert len(read_skillmatch(f)) == 20
    c = Catalog(tiny_root, use_cache=False, skillmatch_path=f)
    test, val = c.task("skillmatch", "test"), c.task("skillmatch", "val")
    assert val.n_pairs == 2 and test.n_pairs == 18  # 10% of the 20 related pairs validate (seed 42)
    assert len(test.targets) == 20 + 7  # union of both columns over all related pairs
    assert "skillmatch/test" in c.task_keys()
    f.write_text("skill_a,skill_b,related\na,b,yes\n")
    with pytest.raises(DataError, match="related must be 0 or 1, found \\['yes'\\]"):
        read_skillmatch(f)
    with pytest.raises(MissingFilesError, match="data.skillmatch_path"):
        Catalog(tiny_root, use_cache=False).task("skillmatch")
