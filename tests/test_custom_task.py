"""Your own ranking task from files: hand-computed metrics, the same numbers as a built-in task fed the same pairs,
the eval.py and ``uwe evaluate`` paths, and every file mistake as one clear line."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from uwe.cli import main
from uwe.data.custom import custom_task
from uwe.data.errors import DataError
from uwe.errors import ConfigError
from uwe.eval.baselines import BM25Scorer
from uwe.eval.custom import evaluate_custom
from uwe.eval.evaluate import evaluate_task
from uwe.eval.metrics import ranking_metrics
from uwe.eval.run import run_eval
from uwe.eval.scorers import BaselineScorer
from uwe.models.encoder import TextEncoder

ROOT = Path(__file__).resolve().parents[1]

# Twelve targets (sorted, as the task keeps them) so that RP@10 can miss: with five, every label is in the top 10.
TARGETS = ["bake bread", "cook pasta", "drive truck", "excel", "git", "knead dough", "linux", "python", "r", "sql",
           "statistics", "welding"]
# One row per relevant pair. " baker " is stripped and merged with "baker"; the repeated pair counts once.
PAIRS = [("baker", "bake bread"), (" baker ", "knead dough"), ("baker", "bake bread"),
         ("data scientist", "python"), ("data scientist", "r"), ("data scientist", "statistics"), ("dba", "sql")]
# The fake scorer's ranking of each query, best first; targets not listed score lowest (ties: lower index first).
ORDER = {
    "baker": ["bake bread", "cook pasta", "knead dough"],
    "data scientist": ["python", "sql", "excel", "git", "linux", "r", "drive truck", "cook pasta", "welding",
                       "bake bread", "statistics", "knead dough"],
    "dba": ["linux", "sql"],
}


class RankScorer:
    """Scores each query's targets by their place in ``ORDER`` (0, -1, -2, ...; -100 when not listed)."""

    name = "hand"

    def iter_scores(self, queries, targets, space, chunk):
        scores = torch.full((len(queries), len(targets)), -100.0)
        for i, query in enumerate(queries):
            for place, target in enumerate(ORDER[query]):
                scores[i, targets.index(target)] = -float(place)
        yield 0, scores

    def describe(self) -> dict:
        return {"kind": "hand"}


def write_pairs(path: Path, pairs, columns=("query", "label")) -> Path:
    """``pairs`` as a .csv/.tsv (with a header row) or .jsonl file."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(dict(zip(columns, p)), ensure_ascii=False) + "\n" for p in pairs))
        return path
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t" if path.suffix == ".tsv" else ",")
        writer.writerow(columns)
        writer.writerows(pairs)
    return path


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    targets = tmp_path / "targets.txt"
    targets.write_text("\n".join(TARGETS) + "\n")
    return write_pairs(tmp_path / "pairs.csv", PAIRS), targets


def test_hand_made_task_scores_as_computed_by_hand(files):
    task = custom_task("hand", *files)
    assert task.key == "hand/custom" and task.targets == TARGETS
    assert task.queries == ["baker", "data scientist", "dba"]
    assert task.sizes() == {"queries": 3, "targets": 12, "pairs": 6} and task.dropped == {"duplicate_pair": 1}
    metrics = evaluate_custom(RankScorer(), [task], show_progress=False)["hand/custom"]["metrics"]
    # baker: R = {bake bread, knead dough} at ranks 1 and 3 -> AP = (1/1 + 2/3) / 2 = 5/6; both in the top 10:
    #   RP@10 = 2 / min(10, 2) = 1; first hit at rank 1: RR = 1.
    # data scientist: R = {python, r, statistics} at ranks 1, 6, 11 -> AP = (1/1 + 2/6 + 3/11) / 3 = 53/99;
    #   statistics is 11th: RP@10 = 2 / min(10, 3) = 2/3; RR = 1.
    # dba: R = {sql} at rank 2 -> AP = 1/2; RP@10 = 1; RR = 1/2.
    # MAP = (5/6 + 53/99 + 1/2) / 3 = (165 + 106 + 99) / 198 / 3 = 185/297 = 0.62290...
    # RP@10 = (1 + 2/3 + 1) / 3 = 8/9; MRR = (1 + 1 + 1/2) / 3 = 5/6.
    assert metrics["map"] == pytest.approx(185 / 297, abs=1e-12)
    assert metrics["rp@10"] == pytest.approx(8 / 9, abs=1e-12)
    assert metrics["mrr"] == pytest.approx(5 / 6, abs=1e-12)


def test_csv_tsv_and_jsonl_give_one_task_and_targets_default_to_the_labels(tmp_path, files):
    tasks = [custom_task("t", write_pairs(tmp_path / f"p{suffix}", PAIRS)) for suffix in (".csv", ".tsv", ".jsonl")]
    for task in tasks:
        assert (task.queries, task.targets, task.labels) == (tasks[0].queries, tasks[0].targets, tasks[0].labels)
    # Without TARGETS the space is the 6 distinct labels; with it the 12 lines of the file.
    assert tasks[0].targets == sorted({label for _, label in PAIRS})
    assert tasks[0].sources["targets"] == "(the labels of PAIRS)"
    assert custom_task("t", *files).labels == [[0, 5], [7, 8, 10], [9]]


def test_texts_are_nfc_normalised_stripped_and_merged(tmp_path):
    pairs = write_pairs(tmp_path / "p.csv", [("cafe\u0301 owner", "cafe\u0301"), ("caf\u00e9 owner ", "barista")])
    targets = tmp_path / "t.txt"
    targets.write_text("  caf\u00e9\nbarista\n\nbarista\n")  # a blank line skipped, a duplicate counted
    task = custom_task("nfc", pairs, targets)
    assert task.queries == ["caf\u00e9 owner"] and task.targets == ["barista", "caf\u00e9"] and task.labels == [[0, 1]]
    assert task.dropped == {"duplicate_target": 1}


def test_both_files_paths_and_sha256_are_recorded(files):
    sources = custom_task("hand", *files).sources
    for kind, path in zip(("pairs", "targets"), files):
        assert sources[kind] == str(path.resolve())
        assert sources[f"{kind}_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.data
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_the_builtin_skill_extraction_tech_task_from_files_gives_identical_metrics(real_catalog, tmp_path, suffix):
    builtin = real_catalog.task("skill_extraction_tech", "test")
    pairs = write_pairs(tmp_path / f"pairs{suffix}", builtin.pairs())
    targets = tmp_path / "targets.txt"
    targets.write_text("\n".join(builtin.targets) + "\n")
    custom = custom_task("tech", pairs, targets)
    assert (custom.queries, custom.targets, custom.labels) == (builtin.queries, builtin.targets, builtin.labels)
    assert custom.sizes() == builtin.sizes() == {"queries": 338, "targets": 13891, "pairs": 583}
    scorer = BaselineScorer(BM25Scorer(), "bm25")  # deterministic and about 0.2 s on 338 x 13,891
    expected = evaluate_task(scorer, builtin, show_progress=False).metrics
    got = evaluate_custom(scorer, [custom], show_progress=False)["tech/custom"]["metrics"]
    assert got == expected  # exactly: same queries, targets, labels and scores
    assert expected["map"] == pytest.approx(0.2812, abs=1e-4)  # BM25's skill_extraction_tech test MAP


def test_uwe_evaluate_prints_json_and_writes_results_with_both_files(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["evaluate", "--pairs", str(files[0]), "--targets", str(files[1]), "--model", "tiny",
                 "--format", "json", "--out", str(out), "--cache-dir", str(tmp_path / "spaces"),
                 "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(printed) == sorted(["map", "rp@10", "mrr", "queries", "targets", "pairs", "dropped"])
    assert (printed["queries"], printed["targets"], printed["pairs"]) == (3, 12, 6)
    # The same numbers as the tiny encoder's cosine scores ranked directly.
    encoder = TextEncoder.from_name("tiny")
    task = custom_task("pairs", *files)
    q, t = (encoder.encode(x, show_progress=False).pooled for x in (task.queries, task.targets))
    direct = ranking_metrics(torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(t, dim=-1).T,
                             task.labels)
    assert {m: printed[m] for m in direct} == pytest.approx(direct, abs=1e-6)
    record = json.loads((out / "results.json").read_text())
    entry = record["custom"]["pairs/custom"]
    assert entry["metrics"] == {m: printed[m] for m in ("map", "rp@10", "mrr")}
    assert entry["sources"]["pairs_sha256"] == hashlib.sha256(files[0].read_bytes()).hexdigest()
    assert entry["sources"]["targets_sha256"] == hashlib.sha256(files[1].read_bytes()).hexdigest()
    assert record["tasks"] == {} and record["model"]["encoder"] == "tiny" and "libraries" in record
    assert "| pairs/custom | 3 x 12 | 6 |" in (out / "results.md").read_text()


def compose_eval(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="eval", overrides=["paths.output_dir=unused", *overrides])


def test_eval_py_runs_custom_tasks_beside_built_in_ones(files, tiny_root, tmp_path):
    common = ["model=bm25", f"data.root={tiny_root}", "data.use_cache=false",
              f"+custom.hand.pairs={files[0]}", f"+custom.hand.targets={files[1]}"]
    alone = run_eval(compose_eval(*common, "tasks=[]"), out_dir=tmp_path / "alone", show_progress=False)
    expected = evaluate_custom(BaselineScorer(BM25Scorer(), "bm25"), [custom_task("hand", *files)],
                               show_progress=False)["hand/custom"]["metrics"]
    assert alone["tasks"] == {} and alone["custom"]["hand/custom"]["metrics"] == expected
    both = run_eval(compose_eval(*common, "tasks=[jobnorm]"), out_dir=tmp_path / "both", show_progress=False)
    assert list(both["tasks"]) == ["jobnorm/test"] and both["custom"]["hand/custom"]["metrics"] == expected
    assert both["macro"] is None  # a custom task never counts as a WorkBench group
    md = (tmp_path / "both" / "results.md").read_text()
    assert "| jobnorm/test |" in md and "| hand/custom | 3 x 12 | 6 |" in md


@pytest.mark.parametrize("override, message", [
    ("+custom.hand.targets=t.txt", r"custom.hand is not valid: expected custom.hand.pairs=FILE"),
    ("+custom.hand={pairs:p.csv,weights:x}", r"custom.hand.weights is not valid: a custom task takes pairs, targets"),
    ("+custom.hand={pairs:p.csv,drop_unknown:maybe}", r"custom.hand.drop_unknown='maybe' is not valid"),
])
def test_eval_py_custom_config_mistakes(override, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        run_eval(compose_eval("model=random", f"data.root={tmp_path}", override), show_progress=False)


def run_cli(capsys, *args: str) -> str:
    """Run ``uwe evaluate`` on the tiny encoder; the one stderr line of its exit-2 error."""
    assert main(["evaluate", "--model", "tiny", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("uwe evaluate: error: ")
    return lines[0]


@pytest.mark.parametrize("name, content, message", [
    ("p.csv", "query\tlabel\nbaker\tbake bread\n",
     r"p.csv: no column 'query' or 'label'; its header has \['query\\tlabel'\] \(it looks tab-separated: name the "
     r"file .tsv\). PAIRS needs the columns query and label"),
    ("p.csv", "text,label\nbaker,bake bread\n", r"p.csv: no column 'query'; its header has \['text', 'label'\]"),
    ("p.csv", "", r"p.csv is empty; PAIRS needs the columns query and label"),
    ("p.csv", "query,label\n", r"p.csv has no rows; add one row per relevant \(query, label\) pair"),
    ("p.csv", "query,label\nbaker,\n,sql\nbaker,\u200b\n",
     r"p.csv: 3 query or label cell\(s\) without text, the first on line 2: label '' is empty; every row needs"),
    ("p.csv", "query,label\nbaker,bake bread,extra\n", r"p.csv line 2: 3 field\(s\) where the header has 2; quote"),
    ("p.jsonl", '{"query": "baker", "label": "bake bread"}\n{"query": "baker"\n', r"p.jsonl line 2 is not JSON"),
    ("p.jsonl", '{"query": "baker", "labels": ["x"]}\n',
     r"p.jsonl line 1: expected an object with the keys query and label, found \['labels', 'query'\]"),
    ("p.jsonl", '{"query": "baker", "label": 3}\n', r"line 1: label is a int, not a string"),
    ("p.txt", "query,label\nbaker,bake bread\n", r"p.txt: unknown format '.txt'; name it .csv, .tsv, .jsonl or .parquet"),
    ("p.csv", b"query,label\nbaker,caf\xe9\n", r"p.csv is not UTF-8 text \(byte 21: invalid continuation byte\)"),
])
def test_pairs_file_mistakes_are_one_line_naming_the_file_and_the_fix(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    line = run_cli(capsys, "--pairs", str(path))
    assert re.search(message, line), line


def test_a_missing_file_is_named(tmp_path, capsys, files):
    line = run_cli(capsys, "--pairs", str(tmp_path / "nope.csv"))
    assert f"PAIRS file {tmp_path / 'nope.csv'} not found; pass the path of an existing file" in line
    line = run_cli(capsys, "--pairs", str(files[0]), "--targets", str(tmp_path / "nope.txt"))
    assert "TARGETS file " + str(tmp_path / "nope.txt") + " not found" in line


def test_unknown_labels_are_named_and_counted_unless_dropped(tmp_path, capsys, files):
    extra = [("baker", "fly"), ("dba", "swim"), ("pilot", "fly"), ("pilot", "land")]
    pairs = write_pairs(tmp_path / "more.csv", PAIRS + extra)
    line = run_cli(capsys, "--pairs", str(pairs), "--targets", str(files[1]))
    assert line.endswith(f"more.csv: 3 label(s) in 4 pair(s) are not in {files[1]}, e.g. ['fly', 'swim', 'land']; "
                         f"add them to {files[1]}, or pass --drop-unknown to drop those pairs")
    assert main(["evaluate", "--model", "tiny", "--pairs", str(pairs), "--targets", str(files[1]), "--drop-unknown",
                 "--format", "json", "--cache-dir", str(tmp_path / "spaces"), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert ("dropped 1 duplicate pair(s), 4 pair(s) whose label is not in the targets, 1 query(ies) left without a "
            "label") in captured.err
    printed = json.loads(captured.out)
    assert (printed["queries"], printed["pairs"]) == (3, 6)  # pilot had only unknown labels
    assert printed["dropped"] == {"duplicate_pair": 1, "label_not_in_space": 4, "query_without_label": 1}


def test_targets_mistakes(tmp_path, files):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n")
    with pytest.raises(DataError, match=f"{blank} is empty; TARGETS needs one label per line"):
        custom_task("t", files[0], blank)
    invisible = tmp_path / "invisible.txt"
    invisible.write_text("python\n\u200b\u200d\n")
    with pytest.raises(DataError, match=f"{invisible} line 2 has no visible character"):
        custom_task("t", files[0], invisible)
    other = tmp_path / "other.txt"
    other.write_text("welding\n")
    with pytest.raises(DataError, match="none of its labels is in .*other.txt; is that the TARGETS file of these"):
        custom_task("t", files[0], other, drop_unknown=True)
    with pytest.raises(DataError, match="custom task name 'a b' is not valid"):
        custom_task("a b", *files)
