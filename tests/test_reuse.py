"""Which finished runs count as the same run (uwe.train.reuse)."""

from __future__ import annotations

import json

from uwe.train.reuse import find_finished, run_key

CONFIG = {"seed": 42, "loss": {"name": "m2m_infonce", "denominator": "all"}, "paths": {"output_dir": "/a"},
          "logger": {"group": "transfer"}, "data": {"root": "/x", "esco_source": None},
          "trainer": {"max_steps": 100, "enable_progress_bar": False}}


def write(folder, config, split="test", subsampled=False):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"split": split, "subsampled": subsampled, "config": config}))
    return folder / "results.json"


def test_run_key_drops_only_what_does_not_change_the_numbers():
    assert run_key(CONFIG) == {"seed": 42, "loss": {"name": "m2m_infonce", "denominator": "all"},
                               "data": {"esco_source": None}, "trainer": {"max_steps": 100}}
    assert CONFIG["paths"] == {"output_dir": "/a"}  # the input is not changed


def test_find_finished_matches_the_same_config_under_another_group_and_folder(tmp_path):
    moved = {**CONFIG, "paths": {"output_dir": "/b"}, "logger": {"group": "ablation_loss"}, "reuse": ["x"]}
    found = write(tmp_path / "runs" / "all", CONFIG)
    assert find_finished(moved, [tmp_path / "runs"]) == found


def test_find_finished_ignores_other_configs_val_or_subsampled_runs_and_the_run_itself(tmp_path):
    write(tmp_path / "seed7", {**CONFIG, "seed": 7})
    write(tmp_path / "masked", {**CONFIG, "loss": {"name": "m2m_infonce", "denominator": "mask_other_positives"}})
    write(tmp_path / "val", CONFIG, split="val")
    write(tmp_path / "sub", CONFIG, subsampled=True)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{")
    assert find_finished(CONFIG, [tmp_path, tmp_path / "missing"]) is None
    own = write(tmp_path / "own", CONFIG)
    assert find_finished(CONFIG, [tmp_path], exclude=own.parent) is None
    assert find_finished(CONFIG, [tmp_path]) == own


def test_keys_added_later_at_their_inert_value_do_not_change_the_key():
    older = {**CONFIG, "val": {"every_n_steps": 100}, "batch": {"nodes": 64}}
    newer = {**older, "init_from": None, "val": {"every_n_steps": 100, "at_start": False},
             "mining": {"negatives": 0, "pool": 16, "every_n_steps": None},
             "preferences": {"sources": {"occurrence": {"per_query": 8}}}, "batch": {"nodes": 64, "triples": 128}}
    assert run_key(newer) == run_key(older)
    assert run_key({**newer, "mining": {"negatives": 1, "pool": 16}}) != run_key(older)
    assert run_key({**newer, "init_from": "stage1.ckpt"}) != run_key(older)
    rankpo = {**newer, "loss": {"name": "rankpo"}}
    assert "preferences" in run_key(rankpo) and run_key(rankpo)["batch"]["triples"] == 128
