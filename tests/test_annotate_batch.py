"""The engine-free batch function of ``uwe annotate``: a row equals ``Ranker.extract`` on its text, bad rows get
their reason in ``error`` and do not stop the batch, and headings give no skill of their own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from uwe.annotate import AnnotateOptions, Annotator, ModelSpec, annotate_frame, output_schema, spark_ddl
from uwe.errors import UserError
from uwe.extract import Extractor, segment_ad
from uwe.extract.segment import is_heading

ADS = ["Baker (m/f/d)\n\nAbout you:\n- You bake bread, e.g. rye.\n• You write Python code!\n2) Be nice.",
       "Data Scientist\nWrite Python code and apply statistics.",
       "Knead dough by hand. Bake bread every morning, and write scripts.",
       "Pastry baker\nRequirements:\n- bread baking\n- kneading"]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("UWE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def annotator(tmp_path_factory):
    from tests.conftest import write_root

    base = tmp_path_factory.mktemp("annotate")
    spec = ModelSpec("tiny", cache_dir=str(base / "cache"), data_root=str(write_root(base / "data")))
    return Annotator(spec, AnnotateOptions(min_prob=0.0, embeddings="float32"))


def test_rows_equal_extract_on_each_ad(annotator):
    """Same skill URIs, labels, evidence offsets and occupations; probabilities within 1e-5 (the sentences of
    the four ads are encoded in one batch here, one ad at a time by extract)."""
    frame = pd.DataFrame({"id": [f"ad{i}" for i in range(len(ADS))], "text": ADS})
    out = annotator(frame)
    assert list(out.columns) == output_schema("float32", annotator.dim).names
    assert out["error"].isna().all() and out["id"].tolist() == ["ad0", "ad1", "ad2", "ad3"]
    alone = Extractor(annotator.ranker, annotator.extractor.calibration)  # a fresh extractor: one ad per call
    compared = 0
    for text, row in zip(ADS, out.itertuples()):
        found = alone.extract(text, min_prob=0.0)
        assert row.title == found.title
        assert [s["uri"] for s in row.skills] == [s.uri for s in found.skills]
        assert [s["label"] for s in row.skills] == [s.label for s in found.skills]
        assert [s["probability"] for s in row.skills] == pytest.approx([s.probability for s in found.skills], abs=1e-5)
        assert [[(e["start"], e["end"]) for e in s["evidence"]] for s in row.skills] == \
               [[(e.start, e.end) for e in s.evidence] for s in found.skills]
        assert [o["uri"] for o in row.occupations] == [o.uri for o in found.occupations]
        assert [o["probability"] for o in row.occupations] == pytest.approx(
            [o.probability for o in found.occupations], abs=1e-5)
        compared += len(found.skills)
    assert compared >= 8  # min_prob=0: every sentence brings its candidates, so the comparison is not vacuous
    # the pooled vector of the whole ad, as the ranker encodes it
    direct = annotator.ranker.retriever.encode_queries(ADS).pooled.numpy()
    np.testing.assert_allclose(np.stack(out["embedding"].tolist()), direct, atol=1e-5)
    table = pa.Table.from_pandas(out, schema=annotator.schema, preserve_index=False)  # the Parquet part's types
    assert table.num_rows == 4 and table.schema.field("embedding").type.list_size == annotator.dim


def test_bad_rows_get_their_reason_and_the_others_are_annotated(annotator):
    ids = ["a", None, "a", "b", "c", "d", "e", "f", 7.0]
    texts = [ADS[1], ADS[1], ADS[2], 42, "   \n ", "x " * 60_000, "Wir suchen einen Entwickler mit Erfahrung in "
             "Python und SQL für unser Team", "%PDF\x00\x01 binary", ADS[3]]
    out = annotator(pd.DataFrame({"id": ids, "text": texts}))
    errors = out["error"].tolist()
    assert errors[0] is None and errors[8] is None and out["id"].tolist()[8] == "7"
    assert errors[1].startswith("the id is missing") and errors[2].startswith("duplicate id 'a'")
    assert "is a int, not a string" in errors[3] and errors[4].startswith("the text is empty")
    assert "120,000 characters" in errors[5] and "German" in errors[6] and "binary" in errors[7]
    assert out.attrs["error_counts"] == {"missing id": 1, "duplicate id": 1, "not a string": 1, "empty": 1,
                                         "too long": 1, "not extractable": 2}
    assert [len(s) for s in out["skills"]][1:8] == [0] * 7 and len(out["skills"][0]) > 0
    assert out["embedding"][1] is None and out["embedding"][0] is not None
    with pytest.raises(UserError, match="the batch has no column 'text' \\(--text\\); its columns: id, body"):
        Annotator.__call__(annotator, pd.DataFrame({"id": ["x"], "body": ["y"]}))


def test_headings_and_list_introductions_give_no_skill(annotator):
    """min_prob=0 makes every scored sentence bring skills: a heading brings none, its list items do."""
    ad = ("Nurse (night shifts)\nRequirements:\n- Bake bread\nResponsibilities\n## Your profile\nWhat you will do:\n"
          "- knead dough")
    headings = [s.text for s in segment_ad(ad) if is_heading(s.text)]
    assert headings == ["Requirements:", "Responsibilities", "## Your profile", "What you will do:"]
    found = Extractor(annotator.ranker, annotator.extractor.calibration).extract(ad, min_prob=0.0)
    evidence = {e.text for s in found.skills for e in s.evidence}
    assert found.sentences == 7 and evidence == {"Nurse (night shifts)", "Bake bread", "knead dough"}
    out = annotator(pd.DataFrame({"id": ["n"], "text": [ad]}))
    assert {ad[e["start"]:e["end"]] for s in out["skills"][0] for e in s["evidence"]} == evidence
    only_headings = annotator(pd.DataFrame({"id": ["h"], "text": ["Requirements:\nResponsibilities:"]}))
    assert only_headings["error"][0] is None and only_headings["skills"][0] == []


def test_a_title_column_names_the_occupation_title(annotator):
    options = AnnotateOptions(title_column="job", min_prob=0.0)
    frame = pd.DataFrame({"id": ["t1", "t2"], "text": [ADS[2], ADS[1]], "job": ["Baker", None]})
    out = annotate_frame(frame, annotator.extractor, options)
    assert out["title"].tolist() == ["Baker", "Data Scientist"]  # given; else the first line
    for text, title, row in zip(frame["text"], ["Baker", None], out.itertuples()):
        found = annotator.extractor.extract(text, title=title, min_prob=0.0)
        assert [o["uri"] for o in row.occupations] == [o.uri for o in found.occupations] and found.occupations


def test_spark_schema_matches_the_arrow_one():
    ddl = spark_ddl("float16", 8)
    assert ddl.startswith("id string, title string, occupations array<struct<uri:string,label:string,"
                          "probability:double>>, skills array<struct<uri:string,label:string,probability:double,"
                          "evidence:array<struct<start:int,end:int,probability:double>>>>")
    assert ddl.endswith("embedding array<float>, error string")
