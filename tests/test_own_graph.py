"""Training graphs from files of your own pairs: composition, the leakage guard, the file and built-in paths
giving the same model, the four formats, the cache, the fraction cuts, and every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from uwe.data.catalog import Catalog
from uwe.data.errors import DataError
from uwe.data.file_graph import load_file_graph
from uwe.data.leakage import LeakageError
from uwe.data.mix import load_mix, parse_mix
from uwe.data.pairs import read_pair_table
from uwe.data.subset import subset_left
from uwe.data.write_pairs import write_graph, write_pairs_file
from uwe.train.run import train
from test_train import compose_train

ROOT = Path(__file__).resolve().parents[1]
PAIRS = [("florist", "arrange flowers"), ("florist", "tend plants"), (" gardener", "arrange flowers"),
         ("florist", "arrange flowers"),
         ("cafe\u0301 owner", "serve coffee"), ("caf\u00e9 owner", "serve coffee")]


def frame(pairs=PAIRS, columns=("query", "label")) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=list(columns))


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".tsv", ".jsonl"])
def test_every_format_reads_the_same_normalised_pairs(tmp_path, suffix):
    table = read_pair_table(write_pairs_file(frame(), tmp_path / f"p{suffix}"))
    # stripped, NFC-normalised (the two spellings of "café owner" are one node), in first-seen order
    assert table.queries == ["florist", "gardener", "caf\u00e9 owner"]
    assert table.labels == ["arrange flowers", "tend plants", "serve coffee"]
    assert table.query_ids.tolist() == [0, 0, 1, 0, 2, 2] and table.label_ids.tolist() == [0, 1, 0, 0, 2, 2]
    graph = load_file_graph("mine", tmp_path / f"p{suffix}", None)
    assert graph.edges.tolist() == [[0, 0], [0, 1], [1, 0], [2, 2]] and graph.dropped == {"duplicate_pair": 2}
    assert graph.sources["pairs_sha256"] == table.sha256


def test_other_column_names_are_chosen(tmp_path):
    path = write_pairs_file(frame(columns=("title", "skill")), tmp_path / "p.parquet")
    with pytest.raises(DataError, match=r"no column 'query' or 'label'; its columns are \['title', 'skill'\]"):
        read_pair_table(path)
    assert read_pair_table(path, "title", "skill").queries == ["florist", "gardener", "caf\u00e9 owner"]
    mix = parse_mix({"mine": {"pairs": str(path), "query_column": "title", "label_column": "skill"}})
    assert (mix["mine"].query_column, mix["mine"].label_column, mix["mine"].alpha, mix["mine"].tau) == (
        "title", "skill", 1.0, 0.05)


def test_a_file_graph_composes_with_all_and_alone(tiny_root, tmp_path):
    path = write_pairs_file(frame(), tmp_path / "mine.csv")
    with_all = compose_train(tmp_path, tiny_root, "task_mix=all", f"+task_mix.graphs.mine.pairs={path}",
                             "+task_mix.graphs.mine.alpha=0.5")
    catalog = Catalog(tiny_root, use_cache=False)
    entries = load_mix(catalog, OmegaConf.to_container(with_all.task_mix.graphs))
    assert [e.graph.name for e in entries] == ["vacancy_skill", "occupation_alias", "skill_alias",
                                               "skill_description", "mine"]
    assert (entries[-1].alpha, entries[-1].tau, entries[-1].graph.sizes()) == (0.5, 0.05, {"edges": 4, "left": 3,
                                                                                           "right": 3})
    alone = compose_train(tmp_path, tiny_root, "task_mix=none", f"+task_mix.graphs.mine.pairs={path}")
    assert [e.graph.name for e in load_mix(catalog, OmegaConf.to_container(alone.task_mix.graphs))] == ["mine"]


def test_the_guard_refuses_a_file_holding_one_test_pair_and_names_it(tiny_root, tmp_path):
    catalog = Catalog(tiny_root, use_cache=False)
    title, skill = next(iter(catalog.task("job2skill", "test").pairs()))
    path = write_pairs_file(frame(PAIRS + [(skill.upper(), title)]), tmp_path / "leaky.parquet")  # reversed, cased
    with pytest.raises(LeakageError) as err:
        load_mix(catalog, {"leaky": {"pairs": str(path)}})
    message = str(err.value)
    assert f"graph leaky (file {path}): 1 edge(s) equal test pairs, e.g. ({skill.upper()!r}, {title!r}) in " \
           "job2skill/test" in message
    assert "tasks=[skill2job,jobnorm," in message  # the evaluated tasks without the leaking one
    kept = load_mix(catalog, {"leaky": {"pairs": str(path)}}, tasks=["jobnorm"])  # narrowed: trains
    assert kept[0].graph.sizes()["edges"] == 5


def test_a_built_in_graph_written_to_a_file_trains_the_same_model_bit_for_bit(tiny_root, tmp_path):
    graph = Catalog(tiny_root, use_cache=False).graph("vacancy_skill")
    path = write_graph(graph, tmp_path / "vacancy_skill.parquet")
    steps = ["trainer.max_steps=4", "val.every_n_steps=4"]
    built_in = train(compose_train(tmp_path / "a", tiny_root, "task_mix=job2skill", *steps))
    from_file = train(compose_train(tmp_path / "b", tiny_root, "task_mix=none",
                                    f"+task_mix.graphs.my_vacancies.pairs={path}", *steps))
    assert from_file["graphs"]["my_vacancies"]["edges"] == built_in["graphs"]["vacancy_skill"]["edges"] > 0
    a = torch.load(built_in["checkpoint"]["path"], weights_only=False)["state_dict"]
    b = torch.load(from_file["checkpoint"]["path"], weights_only=False)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {k: t["metrics"] for k, t in from_file["tasks"].items()} == {k: t["metrics"] for k, t in
                                                                         built_in["tasks"].items()}


def test_the_cache_is_keyed_by_the_file_bytes(tmp_path, caplog):
    path = write_pairs_file(frame(), tmp_path / "p.csv")
    first = load_file_graph("a", path, tmp_path / "cache")
    (entry,) = (tmp_path / "cache" / "graphs").glob("file-*.safetensors")
    again = load_file_graph("b", path, tmp_path / "cache")  # read back, under its new name
    assert (again.name, again.left, again.edges.tolist()) == ("b", first.left, first.edges.tolist())
    write_pairs_file(frame(PAIRS + [("florist", "water plants")]), path)  # changed bytes: a new entry
    changed = load_file_graph("a", path, tmp_path / "cache")
    assert changed.right[-1] == "water plants" and len(list((tmp_path / "cache" / "graphs").glob("*"))) == 2
    assert entry.is_file()


def test_a_fraction_is_a_seeded_nested_subset_of_left_nodes_with_all_their_edges():
    rng = np.random.default_rng(0)
    edges = np.unique(np.stack([rng.integers(0, 400, 2000), rng.integers(0, 50, 2000)], 1), axis=0)
    from uwe.data.graph import TrainingGraph
    graph = TrainingGraph("g", [f"l{i}" for i in range(400)], [f"r{j}" for j in range(50)], edges)
    cuts = {f: subset_left(graph, f, seed=7) for f in (0.125, 0.25, 0.5, 1.0)}
    assert [len(c.left) for c in cuts.values()] == [50, 100, 200, 400] and cuts[1.0] is graph
    for small, large in [(0.125, 0.25), (0.25, 0.5), (0.5, 1.0)]:
        assert set(cuts[small].pairs()) < set(cuts[large].pairs())  # nested
    degree = {t: 0 for t in graph.left}
    for a, _ in graph.pairs():
        degree[a] += 1
    kept = cuts[0.25]
    assert len(kept.edges) == sum(degree[t] for t in kept.left)  # every edge of a kept node
    assert kept.dropped == {"fraction_left_nodes": 300, "fraction_edges": len(edges) - len(kept.edges)}
    assert subset_left(graph, 0.25, seed=7).left == kept.left != subset_left(graph, 0.25, seed=8).left
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(DataError, match=f"needs 0 < fraction <= 1 .*got fraction={bad}"):
            parse_mix({"vacancy_skill": {"alpha": 1.0, "tau": 0.05, "fraction": bad}})


def test_a_fraction_is_recorded_in_the_results(tiny_root, tmp_path):
    record = train(compose_train(tmp_path, tiny_root, "task_mix=job2skill", "task_mix.graphs.vacancy_skill.fraction=0.5",
                                 "trainer.max_steps=2", "val.every_n_steps=2"))
    whole = Catalog(tiny_root, use_cache=False).graph("vacancy_skill")
    entry = record["graphs"]["vacancy_skill"]
    assert entry["left"] == round(0.5 * len(whole.left)) and entry["dropped"]["fraction_left_nodes"] > 0
    assert record["config"]["task_mix"]["graphs"]["vacancy_skill"]["fraction"] == 0.5


def bad_parquet(tmp_path: Path) -> Path:
    path = write_pairs_file(frame(), tmp_path / "p.parquet")
    path.write_bytes(path.read_bytes()[:-40] + b"\0" * 40)
    return path


@pytest.mark.parametrize("entry, message", [
    (lambda t: {"pairs": str(t / "nope.csv")}, r"task_mix.graphs.mine.pairs: PAIRS file .*nope.csv not found"),
    (lambda t: {"pairs": str(write_pairs_file(frame(columns=("title", "label")), t / "p.csv"))},
     r"p.csv: no column 'query'; its header has \['title', 'label'\]"),
    (lambda t: {"pairs": str(write_pairs_file(frame([("florist", "tend plants"), ("florist", " ")]), t / "p.parquet"))},
     r"p.parquet: 1 query or label cell\(s\) without text, the first on row 2: label ' ' is empty"),
    (lambda t: {"pairs": str((t / "p.csv").write_bytes(b"query,label\nbaker,caf\xe9\n") and t / "p.csv")},
     r"p.csv is not UTF-8 text"),
    (lambda t: {"pairs": str(bad_parquet(t))}, r"p.parquet cannot be read as Parquet \("),
    (lambda t: {"pairs": str((t / "p.jsonl").write_text("\n\n") and t / "p.jsonl")}, r"p.jsonl is empty"),
    (lambda t: {"pairs": str(write_pairs_file(frame()[:0], t / "p.parquet"))}, r"p.parquet has no rows"),
    (lambda t: {"pairs": str(write_pairs_file(frame(), t / "p.csv")), "tau": 0}, r"needs alpha > 0 and tau > 0"),
    (lambda t: {"pairs": str(write_pairs_file(frame(), t / "p.csv")), "alpha": -1}, r"needs alpha > 0 and tau > 0"),
    (lambda t: {"pairs": str(write_pairs_file(frame(), t / "p.csv")), "weight": 2}, r"unknown key\(s\) \['weight'\]"),
])
def test_bad_files_and_settings_are_one_clear_error(tiny_root, tmp_path, entry, message):
    with pytest.raises(DataError, match=message):
        load_mix(Catalog(tiny_root, use_cache=False), {"mine": entry(tmp_path)})


def test_a_name_of_a_built_in_graph_is_refused(tmp_path):
    path = write_pairs_file(frame(), tmp_path / "p.csv")
    with pytest.raises(DataError, match=r"'vacancy_skill' is a built-in graph; name your file graph otherwise"):
        parse_mix({"vacancy_skill": {"pairs": str(path)}})


def test_train_py_stops_before_any_step_with_one_line_and_writes_nothing(tiny_root, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "experiment=smoke", "logger=none", f"data.root={tiny_root}",
         "data.use_cache=false", f"hydra.run.dir={out}", "task_mix=none",
         f"+task_mix.graphs.mine.pairs={bad_parquet(tmp_path)}"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert lines[-1].startswith("train.py: error: ") and "p.parquet cannot be read as Parquet" in lines[-1]
    assert not (out / "checkpoints").exists() and not (out / "results.json").exists()
    assert not (ROOT / "outputs" / "smoke" / "latest").resolve().is_relative_to(tmp_path)  # "latest" not moved


@pytest.mark.data
def test_export_graph_writes_a_built_in_graph_that_reads_back_equal(real_catalog, tmp_path, capsys):
    from uwe.data.__main__ import main
    out = tmp_path / "occupation_alias.jsonl"
    assert main(["--cache-dir", str(real_catalog.cache_dir), "export-graph", "occupation_alias", str(out)]) == 0
    assert f"wrote 29,845 pairs (29,013 x 2,976 nodes) of occupation_alias to {out}" in capsys.readouterr().out
    built = real_catalog.graph("occupation_alias")
    read = load_file_graph("x", out, None)
    assert (read.left, read.right) == (built.left, built.right) and np.array_equal(read.edges, built.edges)
    assert json.loads(out.read_text().splitlines()[0]).keys() == {"query", "label"}


def test_the_positive_mask_is_every_edge_among_the_sampled_nodes():
    """Against a brute-force mask, with repeated ids on both sides (mined columns may repeat a sampled one)."""
    from uwe.data.graph import TrainingGraph
    from uwe.train.sampler import GraphSampler

    rng = np.random.default_rng(0)
    edges = np.unique(np.stack([rng.integers(0, 300, 3000), rng.integers(0, 80, 3000)], 1), axis=0)
    graph = TrainingGraph("g", [f"l{i}" for i in range(300)], [f"r{j}" for j in range(80)], edges)
    sampler, known = GraphSampler(graph, 16), set(map(tuple, edges.tolist()))
    for _ in range(20):
        left, right = rng.integers(0, 300, 20), rng.integers(0, 80, 25)
        got = sampler.positives(torch.from_numpy(left), torch.from_numpy(right)).numpy()
        assert (got == np.array([[(a, b) in known for b in right] for a in left])).all()
    batch = sampler.sample(np.random.default_rng(1))
    assert sampler.positives(batch.left_ids, batch.right_ids)[batch.pairs[:, 0], batch.pairs[:, 1]].all()
