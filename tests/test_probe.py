"""A representative subset of bench/probe_bad_inputs.py: every entry point, every class of bad input or fault."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[1] / "bench" / "probe_bad_inputs.py"
SUBSET = [
    "rank_k0", "rank_surrogate", "labels_nfc_dup", "labels_zero_width", "rank_corrupt_ckpt", "export_over_user_folder",
    "data_unknown_version", "data_unknown_allowed", "data_zip_and_folder", "data_cache_pickle", "data_cache_swapped",
    "eval_chunk0", "eval_truncated_titles", "train_lr_text", "data_damaged_member", "rankpo_no_triples",
    "rankpo_other_head", "mining_negatives_over_pool",
    "rank_dim_too_wide", "eval_layers0", "extract_huge_ad", "extract_binary_ad", "extract_other_calibration",
    "http_k_true", "http_surrogate", "http_huge_body", "http_extract_german",
    "own_graph_damaged_parquet", "own_graph_test_pair", "annotate_missing_column", "annotate_other_manifest",
]


@pytest.mark.slow
def test_the_probe_subset_ends_every_bad_input_in_a_clear_error(monkeypatch):
    spec = importlib.util.spec_from_file_location("probe_bad_inputs", PROBE)
    probe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "probe_bad_inputs", probe)  # dataclasses look their module up there
    spec.loader.exec_module(probe)
    assert len(probe.cases()) >= 40
    done = probe.run(SUBSET)
    table, counts = probe.report(done)
    assert sorted(c.name for c in done) == sorted(SUBSET)
    assert counts == {"clear": len(SUBSET), "traceback": 0, "silently_wrong": 0, "unsafe": 0, "unbounded": 0}, table
