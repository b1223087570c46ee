"""Job-ad extraction: segmentation, ad checks, calibration math and storage, validation-only fitting, the
extractor's evidence, and the CLI and HTTP limits; exact sizes of the real annotation sets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.ranking import assert_top_k
from uwe import Ranker
from uwe.cli import main
from uwe.extract import (AdError, CalibrationError, NoCalibrationDataError, calibrate, calibration_for, check_ad,
                         segment_ad)
from uwe.extract.annotations import AnnotatedSentence, annotated_sentences, esco_uris
from uwe.extract.calibration import Calibrator, fit_calibrator, fit_isotonic, fit_platt, log_loss
from uwe.extract.checks import MAX_AD_CHARS, guess_language, repair_cp1252
from uwe.extract.candidates import rank_candidates, rank_sentences
from uwe.extract.fit import fit_rule
from uwe.extract.metrics import best_threshold, expected_calibration_error, pr_curve, prf
from uwe.extract.segment import is_heading
from uwe.extract.store import cache_file, model_checksum
from uwe.models.encoder import TextEncoder
from uwe.models.heads import build_head
from uwe.serve import create_app

VAL = pd.DataFrame({"sentence": ["Write Python code .", "Write Python code .", "Bake and knead .", "Be nice ."],
                    "span": "x", "sub_span": "",
                    "label": ["python", "statistics", "bake bread", "LABEL NOT PRESENT"]})
TEST = pd.DataFrame({"sentence": ["TEST ONLY statistics please .", "TEST ONLY no skill here ."], "span": "x",
                     "sub_span": "", "label": ["statistics", "LABEL NOT PRESENT"]})
AD = "Baker (m/f/d)\n\nAbout you:\n- You bake bread, e.g. rye.\n• You write Python code!\n2) Be nice."


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("UWE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def root(tiny_root):
    """The tiny data root with validation and test annotations that share no sentence."""
    for domain in ("house", "tech"):
        VAL.to_csv(tiny_root / "skill_extraction" / f"{domain}_validation_annotations.csv", index=False)
        TEST.to_csv(tiny_root / "skill_extraction" / f"{domain}_test_annotations.csv", index=False)
    return tiny_root


def tiny_ranker(root, tmp_path) -> Ranker:
    return Ranker(TextEncoder.from_name("tiny"), build_head("cosine"), cache_dir=tmp_path / "cache", data_root=root,
                  show_progress=False, backend="torch")


# Segmentation -------------------------------------------------------------------------------------------------
def test_segmentation_splits_lines_and_bullets_and_keeps_abbreviations():
    ad = ("Senior Data Engineer\r\n* Python, SQL etc. are needed.\n\n• Dr. Smith leads the team, e.g. on "
          "Mondays.\n  - 5+ years\n1. Spark\niv) Airflow\n----\nApply now. We reply fast!")
    assert [s.text for s in segment_ad(ad)] == [
        "Senior Data Engineer", "Python, SQL etc. are needed.", "Dr. Smith leads the team, e.g. on Mondays.",
        "5+ years", "Spark", "Airflow", "Apply now.", "We reply fast!"]


def test_segment_offsets_point_at_the_sentence_text():
    ad = "Café owner\n  – Serve coffee. Keep accounts.\n\u2022 naïve bullets ok"
    segments = segment_ad(ad)
    assert [s.text for s in segments] == ["Café owner", "Serve coffee.", "Keep accounts.", "naïve bullets ok"]
    assert all(ad[s.start:s.end] == s.text for s in segments)


# Ad checks ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ad, message", [
    ("", "empty"), (" \n\t\u200b", "empty"), (b"bytes ad", "bytes, not text"), (3, "must be a string"),
    ("x" * (MAX_AD_CHARS + 1), f"limit of {MAX_AD_CHARS:,}"), ("ok\x00binary", "binary control"),
    ("caf\udce9", "lone surrogate"),
    ("Wir suchen einen Entwickler mit Erfahrung in Python und SQL für unser Team", "German"),
    ("Требуется разработчик Python с опытом работы", "non-Latin script"),
])
def test_bad_ads_get_one_clear_error(ad, message):
    with pytest.raises(AdError if not isinstance(ad, str) or "\udce9" not in ad else ValueError, match=message):
        check_ad(ad)


def test_a_skills_list_is_english_and_any_language_lets_german_through():
    assert guess_language("Python, SQL, Spark, Airflow, Docker, Kubernetes, AWS, GCP, Terraform") == "English"
    german = "Wir suchen einen Entwickler mit Erfahrung in Python und SQL für unser Team"
    assert check_ad(german, any_language=True) == german


def test_windows_1252_punctuation_read_as_latin1_is_repaired_in_place():
    """WorkBench's own sentences hold "you\x92ll": C1 controls that stand for Windows-1252 punctuation."""
    ad = "You\x92ll need \x93SQL\x94 \x96 and Python\x85"
    repaired = check_ad(ad)
    assert repaired == "You’ll need “SQL” – and Python…" and len(repaired) == len(ad)
    for undefined in ("\x81", "\x8d", "\x8f", "\x90", "\x9d"):  # no Windows-1252 character: still binary
        with pytest.raises(AdError, match="1 binary control"):
            check_ad(f"You{undefined}ll need SQL")


# Calibration math -----------------------------------------------------------------------------------------------
def test_platt_and_isotonic_are_monotone_in_the_score():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=400)
    labels = (rng.random(400) < 1 / (1 + np.exp(-3 * scores))).astype(int)
    grid = np.linspace(-4, 4, 200)
    for calibrator in (fit_platt(scores, labels), fit_isotonic(scores, labels)):
        probs = calibrator(grid)
        assert np.all(np.diff(probs) >= 0) and probs.min() >= 0 and probs.max() <= 1
        assert Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))(grid).tolist() == probs.tolist()
    assert fit_platt(scores, labels).params[0] == pytest.approx(3, abs=0.8)  # the slope that made the labels


def test_platt_of_anticorrelated_scores_is_the_base_rate():
    calibrator = fit_platt(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1, 1, 0, 0]))
    assert calibrator.params[0] == 0.0
    assert calibrator(np.array([-5.0, 5.0])).tolist() == pytest.approx([0.5, 0.5])


def test_isotonic_by_hand_and_log_loss_pick_the_better_kind():
    # Pool-adjacent-violators on labels [0, 1, 0, 1] at scores 1..4: [0, 0.5, 0.5, 1].
    calibrator = fit_isotonic(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 1, 0, 1]))
    assert calibrator(np.array([1.0, 2.0, 3.0, 4.0])).tolist() == [0.0, 0.5, 0.5, 1.0]
    assert log_loss(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(np.log(2))
    rng = np.random.default_rng(1)
    scores = rng.normal(size=600)
    labels = (rng.random(600) < 1 / (1 + np.exp(-2 * scores))).astype(int)  # exactly a logistic: Platt wins
    best, losses = fit_calibrator(scores, labels, groups=np.arange(600) // 3)
    assert best.kind == "platt" and losses["platt"] < losses["isotonic"]
    with pytest.raises(ValueError, match="right and wrong"):
        fit_calibrator(scores, np.ones(600, dtype=int), groups=np.arange(600))


def test_calibrator_files_are_checked():
    with pytest.raises(ValueError, match="a >= 0"):
        Calibrator.from_dict({"kind": "platt", "params": [-1.0, 0.0], "x": [], "y": []})
    with pytest.raises(ValueError, match="non-decreasing"):
        Calibrator.from_dict({"kind": "isotonic", "params": [], "x": [0.0, 1.0], "y": [0.9, 0.1]})


# Metrics ----------------------------------------------------------------------------------------------------
def test_prf_pr_curve_and_best_threshold_by_hand():
    probs, hits = np.array([0.9, 0.7, 0.7, 0.4, 0.2]), np.array([1, 1, 0, 0, 1])
    thresholds, precision, recall = pr_curve(probs, hits, n_gold=4)  # one gold pair was never a candidate
    assert thresholds.tolist() == [0.9, 0.7, 0.4, 0.2]
    assert precision.tolist() == pytest.approx([1, 2 / 3, 2 / 4, 3 / 5])
    assert recall.tolist() == pytest.approx([1 / 4, 2 / 4, 2 / 4, 3 / 4])
    threshold, scores = best_threshold(probs, hits, n_gold=4)  # F1: 0.4, 0.571, 0.5, 0.667
    assert threshold == 0.2 and scores == prf(3, 5, 4) and scores.f1 == pytest.approx(2 / 3)
    assert prf(0, 0, 0).f1 == 0.0


def test_expected_calibration_error_by_hand():
    # bins [0.1, 0.2): conf 0.15, rate 0.5; [0.8, 0.9): conf 0.85, rate 1.0 -> 0.5 * 0.35 + 0.5 * 0.15 = 0.25
    probs, hits = np.array([0.1, 0.2 - 1e-9, 0.8, 0.9 - 1e-9]), np.array([1, 0, 1, 1])
    assert expected_calibration_error(probs, hits) == pytest.approx(0.25)
    assert expected_calibration_error(np.array([0.0, 1.0]), np.array([0, 1])) == 0.0


# Fitting on validation only ---------------------------------------------------------------------------------------
def test_calibration_reads_validation_sentences_only(root, tmp_path, monkeypatch):
    ranker = tiny_ranker(root, tmp_path)
    seen: list[str] = []
    encode = ranker.encoder.encode
    monkeypatch.setattr(ranker.encoder, "encode", lambda texts, *a, **kw: seen.extend(texts) or encode(texts, *a, **kw))
    path = calibrate(ranker)
    test_sentences = set(TEST["sentence"].str.strip())
    assert not test_sentences & set(seen), "a test sentence reached the calibration"
    assert set(VAL["sentence"].str.strip()) <= set(seen)
    record = json.loads(path.read_text())
    assert record["skills"]["sentences"] == 6 and record["skills"]["gold_pairs"] == 6  # 3 sentences x 2 domains
    assert all("validation" in f for f in record["record"]["fitted_on"] if f.endswith(".csv"))


def test_decision_rule_takes_the_cap_and_threshold_with_the_best_f1(root, tmp_path):
    ranker = tiny_ranker(root, tmp_path)
    sentences = annotated_sentences(ranker.catalog.raw, "house", "val")
    candidates = rank_candidates(ranker, sentences, esco_uris(ranker.catalog.raw), k=4)
    assert candidates.n_gold == 3 and len(candidates.score) == 12 and candidates.hit.sum() == 3
    rule = fit_rule(candidates)
    by_cap = {}
    for cap in (1, 2, 3, 4):  # by hand: each cap's own calibrator, then its best threshold
        keep = candidates.rank <= cap
        if 0 < candidates.hit[keep].sum() < keep.sum():
            calibrator, _ = fit_calibrator(candidates.score[keep], candidates.hit[keep], candidates.group[keep])
            by_cap[cap] = best_threshold(calibrator(candidates.score[keep]), candidates.hit[keep], 3)[1].f1
    assert rule["val"]["f1"] == pytest.approx(max(by_cap.values()))
    assert rule["max_per_sentence"] == min(cap for cap, f1 in by_cap.items() if f1 == pytest.approx(rule["val"]["f1"]))
    assert rule["examples"] == 3 * rule["max_per_sentence"]


def test_candidates_see_a_sentence_as_extract_does(root, tmp_path):
    """The fit and the study rank a repaired sentence, and a heading gets no candidate (its gold still counts)."""
    ranker = tiny_ranker(root, tmp_path)
    uris = esco_uris(ranker.catalog.raw)
    sentences = [AnnotatedSentence("You\x92ll bake bread", frozenset()),
                 AnnotatedSentence("Requirements:", frozenset({uris["bake bread"]}))]
    candidates = rank_candidates(ranker, sentences, uris, k=3)
    assert candidates.group.tolist() == [0, 0, 0] and candidates.n_gold == 1
    (repaired,) = rank_sentences(ranker, ["You’ll bake bread"], k=3)
    assert candidates.score.tolist() == [score for _, score in repaired]


def test_a_sentence_scores_each_skill_by_its_best_clause(root, tmp_path):
    ranker = tiny_ranker(root, tmp_path)
    sentence = "Bake bread, knead dough and write Python"
    parts = [sentence, "Bake bread", "knead dough", "write Python"]
    direct = ranker.scores(parts, "esco_skills").max(dim=0).values
    labels = ranker.space("esco_skills").labels
    (merged,) = rank_sentences(ranker, [sentence], k=3)
    # "knead dough" and "bake bread" tie within float rounding, so their order depends on the CPU.
    assert_top_k(merged, {label: float(direct[j]) for j, label in enumerate(labels)})
    assert {"knead dough", "bake bread"} <= {label for label, _ in merged}  # each clause brings its own skill


# Storage ----------------------------------------------------------------------------------------------------
def test_calibration_is_cached_by_checksum_and_another_models_file_is_refused(root, tmp_path):
    ranker = tiny_ranker(root, tmp_path)
    first = calibration_for(ranker)
    path = cache_file(ranker.cache_dir, ranker.name, model_checksum(ranker.encoder, ranker.head))
    assert path.is_file()
    assert calibration_for(ranker).record["fitted_at"] == first.record["fitted_at"]  # read back, not refitted
    other = tiny_ranker(root, tmp_path)
    with __import__("torch").no_grad():
        next(other.encoder.model.parameters()).add_(1.0)
    assert model_checksum(other.encoder, other.head) != model_checksum(ranker.encoder, ranker.head)
    data = json.loads(path.read_text())
    data["model_checksum"] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match="calibrates another model.*uwe calibrate"):
        calibration_for(ranker)
    path.write_text("{not json")
    with pytest.raises(CalibrationError, match=f"{path.name} is not a readable uwe calibration"):
        calibration_for(ranker)


def test_no_validation_data_refuses_probabilities(root, tmp_path):
    for file in (root / "skill_extraction").glob("*_validation_annotations.csv"):
        file.unlink()
    ranker = tiny_ranker(root, tmp_path)
    with pytest.raises(NoCalibrationDataError, match="refused rather than made up"):
        ranker.extract(AD)
    assert not (tmp_path / "cache" / "calibration").exists()


# Extraction ----------------------------------------------------------------------------------------------------
def test_extract_gives_calibrated_skills_with_evidence_offsets(root, tmp_path):
    ranker = tiny_ranker(root, tmp_path)
    found = ranker.extract(AD, min_prob=0.0)
    assert found.title == "Baker (m/f/d)" and found.title_source == "first line" and found.sentences == 5
    assert found.skills and [s.probability for s in found.skills] == sorted(
        (s.probability for s in found.skills), reverse=True)
    for skill in found.skills:
        assert 0.0 <= skill.probability <= 1.0 and skill.uri.startswith("http://data.europa.eu/esco/skill/")
        assert skill.probability == max(e.probability for e in skill.evidence)
        assert all(AD[e.start:e.end] == e.text for e in skill.evidence)
    assert len(ranker.extract(AD, min_prob=0.0, top=1).skills) == 1
    assert ranker.extract(AD, title="baker").title_source == "given"
    assert [o.label for o in found.occupations] and all(0 <= o.probability <= 1 for o in found.occupations)
    with pytest.raises(ValueError, match="min_prob"):
        ranker.extract(AD, min_prob=1.5)
    with pytest.raises(AdError, match="no sentence with a letter"):
        ranker.extract("--- *** ---")


def test_the_title_line_is_ranked_by_its_core_and_repaired_text_keeps_offsets(root, tmp_path):
    """"(night shifts)" in a title says how the job is done: the title line brings the skills of "Baker" alone."""
    ranker = tiny_ranker(root, tmp_path)

    def title_skills(ad):
        found = ranker.extract(ad, min_prob=0.0)
        first = ad.splitlines()[0]
        return {(s.label, e.probability) for s in found.skills for e in s.evidence if e.text == first}

    core = title_skills("Baker\nYou bake bread.")
    assert core and title_skills("Baker (night shifts) [Remote]\nYou bake bread.") == core
    assert title_skills("Baker (night shifts)\nYou bake bread.") == core
    assert title_skills("(night shifts)\nYou bake bread.") == set()  # nothing but an aside: no skill
    ad = "Baker\nYou\x92ll bake bread \x96 rye too."
    found = ranker.extract(ad, min_prob=0.0)
    evidence = [e for s in found.skills for e in s.evidence if e.start > 5]
    assert evidence and {e.text for e in evidence} == {"You’ll bake bread – rye too."}
    assert all(len(ad[e.start:e.end]) == len(e.text) and ad[e.start:e.end].startswith("You\x92ll") for e in evidence)


# CLI and HTTP -----------------------------------------------------------------------------------------------------
def cli(root, tmp_path, *args) -> int:
    return main(["extract", *args, "--model", "tiny", "--data-root", str(root), "--cache-dir", str(tmp_path / "c")])


def test_cli_extract_json_and_bad_files(root, tmp_path, capsys):
    ad = tmp_path / "ad.txt"
    ad.write_text(AD, encoding="utf-8")
    assert cli(root, tmp_path, str(ad), "--format", "json", "--min-prob", "0") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sentences"] == 5 and all(AD[e["start"]:e["end"]] == e["text"] for s in out["skills"]
                                         for e in s["evidence"])
    for name, data, message in [("bin.txt", b"%PDF\x00\x01", "binary file"), ("latin1.txt", "café".encode("latin-1"),
                                                                               "not UTF-8"),
                                ("empty.txt", b"  \n", "empty"), ("big.txt", b"a " * 2_600_000, "limit of")]:
        (tmp_path / name).write_bytes(data)
        assert cli(root, tmp_path, str(tmp_path / name)) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err  # checked before the model or data is read
    assert cli(root, tmp_path, str(tmp_path / "missing.txt")) == 2
    assert "missing.txt" in capsys.readouterr().err


def test_http_extract_answers_and_refuses_with_4xx(root, tmp_path):
    ranker = tiny_ranker(root, tmp_path)
    with TestClient(create_app(ranker, batching=False)) as client:
        ok = client.post("/extract", json={"text": AD, "min_prob": 0, "top": 2})
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert len(body["skills"]) <= 2 and all(AD[e["start"]:e["end"]] == e["text"] for s in body["skills"]
                                               for e in s["evidence"])
        for payload, status in [({"text": "   "}, 422), ({"text": AD, "min_prob": 2}, 422),
                                ({"text": AD, "top": 0}, 422), ({"text": AD, "extra": 1}, 422),
                                ({"text": "Wir suchen einen Entwickler mit Erfahrung in Python und SQL für unser "
                                          "Team"}, 422),
                                ({"text": "x " * (MAX_AD_CHARS // 2 + 10)}, 422)]:
            response = client.post("/extract", json=payload)
            assert response.status_code == status, (payload, response.text)
        huge = client.post("/extract", content=b'{"text": "' + b"a" * (5 << 20) + b'"}',
                           headers={"content-type": "application/json"})
        assert huge.status_code == 413


@pytest.mark.data
def test_real_annotation_sets_have_their_exact_sizes(real_catalog):
    sizes = {(d, s): annotated_sentences(real_catalog.raw, d, s) for d in ("house", "tech") for s in ("val", "test")}
    summary = {key: (len(v), sum(bool(x.skills) for x in v), sum(len(x.skills) for x in v))
               for key, v in sizes.items()}
    assert summary == {("house", "val"): (77, 61, 131), ("house", "test"): (326, 262, 529),
                       ("tech", "val"): (101, 75, 131), ("tech", "test"): (425, 338, 583)}
    # Windows-1252 punctuation read as C1 controls ("you\x92re", "\x95" bullets): repaired before ranking (only
    # house has them); no sentence is a heading, so the heading rule leaves the study's figures as they were.
    c1 = {key: sum(any("\x80" <= c <= "\x9f" for c in x.text) for x in v) for key, v in sizes.items()}
    assert c1 == {("house", "val"): 6, ("house", "test"): 28, ("tech", "val"): 0, ("tech", "test"): 0}
    assert not [x.text for v in sizes.values() for x in v if is_heading(repair_cp1252(x.text))]
