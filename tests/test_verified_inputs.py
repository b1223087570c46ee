"""Inputs are verified, not trusted; user mistakes end in one line and exit status 2; labels compare after NFC."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from tests.conftest import REAL_ROOT, SKILLS, require_real_data
from uwe.data.catalog import Catalog
from uwe.data.errors import DataError
from uwe.data.known_files import ENV_VAR, UnknownVersionError, known
from uwe.data.raw import RawData
from uwe.data.root import SOURCES
from uwe.errors import EXIT_USER_ERROR, CheckpointError, ConfigError, UserError, main_guard
from uwe.eval.run import run_eval
from uwe.ranker import Ranker, check_labels

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def strict(monkeypatch):
    """As a user runs: unknown versions refused (conftest allows them for the tiny roots)."""
    monkeypatch.delenv(ENV_VAR, raising=False)


def compose_cfg(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name=name, overrides=["paths.output_dir=unused", *overrides])


# Inputs are verified --------------------------------------------------------------------------------------
def test_every_file_the_loaders_read_has_a_known_release():
    assert {s: set(files) for s, files in known().items()} == {s: set(src.files) for s, src in SOURCES.items()}
    assert known()["jobbert_eval"]["titles.test.csv"]["rows"] == 15463  # rows; 15,172 distinct titles are queries
    zipped = known()["esco_v1.1.1_classification"]["skills_en.csv"]
    assert zipped["zip"]["name"] == "esco_v1.1.1_classification_en_csv.zip" and zipped["rows"] == 13896


def test_the_real_data_is_the_known_release(strict):
    raw = RawData(require_real_data())
    raw.require(list(SOURCES))
    assert raw.unverified == {}


def _real_root_with(tmp_path: Path, titles_test: bytes) -> Path:
    """The real data root (linked), with its titles.test.csv replaced by ``titles_test``."""
    root = tmp_path / "data"
    root.mkdir()
    for child in require_real_data().iterdir():
        if child.name != "jobbert_eval":
            (root / child.name).symlink_to(child)
    (root / "jobbert_eval").mkdir()
    (root / "jobbert_eval" / "titles.csv").symlink_to(REAL_ROOT / "jobbert_eval" / "titles.csv")
    (root / "jobbert_eval" / "titles.test.csv").write_bytes(titles_test)
    return root


def test_a_truncated_file_is_refused_naming_it_what_was_expected_and_the_fix(tmp_path, strict):
    lines = (require_real_data() / "jobbert_eval" / "titles.test.csv").read_bytes().splitlines(keepends=True)
    root = _real_root_with(tmp_path, b"".join(lines[: len(lines) // 2]))  # cut at a line boundary
    with pytest.raises(UnknownVersionError) as err:
        Catalog(root, use_cache=False).task("jobnorm", "test")
    message = str(err.value)
    assert "titles.test.csv: expected 15,463 rows" in message and f"found {len(lines) // 2 - 1:,} rows" in message
    assert "download the official file again" in message and "data.allow_unknown_versions=true" in message

    allowed = Catalog(root, use_cache=False, allow_unknown=True)
    assert len(allowed.task("jobnorm", "test").queries) < 15172
    assert allowed.unverified == ["jobbert_eval/titles.test.csv"]
    assert "UNVERIFIED" in allowed.task("jobnorm", "test").sources["jobbert_eval"]


def test_unverified_results_are_marked(tiny_root, tmp_path):
    record = run_eval(compose_cfg("eval", f"data.root={tiny_root}", "data.use_cache=false", "model=random",
                                  "tasks=[jobnorm]"), show_progress=False)
    assert record["protocol"].endswith(" UNVERIFIED") and "jobbert_eval/titles.test.csv" in record["unverified_sources"]
    from uwe.eval.report import format_table

    assert "UNVERIFIED" in format_table(record)


def test_the_tiny_root_is_refused_without_allow_unknown(tiny_root, tmp_path, strict):
    with pytest.raises(UnknownVersionError, match=r"classification.zip:skills_en.csv: expected the official zip "
                                                   r"esco_v1.1.1_classification_en_csv.zip"):
        Catalog(tiny_root, cache_dir=tmp_path / "c").task("job2skill")


def test_an_esco_file_both_zipped_and_extracted_needs_a_choice(tiny_root, tmp_path):
    esco = tiny_root / "esco" / "v1.1.1"
    (esco / "extracted").mkdir()
    (esco / "extracted" / "skills_en.csv").write_text(SKILLS.iloc[:2].to_csv(index=False))
    with pytest.raises(DataError, match=r"skills_en.csv is both extracted .*extracted/skills_en.csv.* and in the zip "
                                        r".*classification.zip; say which one is read with data.esco_source=zip"):
        Catalog(tiny_root, use_cache=False).task("job2skill")
    from_zip = Catalog(tiny_root, use_cache=False, esco_source="zip").task("job2skill")
    from_folder = Catalog(tiny_root, use_cache=False, esco_source="folder").task("job2skill")
    assert len(from_zip.targets) == 4 and len(from_folder.targets) == 2
    with zipfile.ZipFile(esco / "classification.zip") as zf:
        assert "skills_en.csv" in zf.namelist()


# User mistakes: one line, exit status 2 -------------------------------------------------------------------
def test_main_guard_turns_user_errors_into_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("UWE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stop, main_guard("prog"):
        raise ConfigError("chunk=0 is not valid:\n  expected an integer >= 1")
    assert stop.value.code == EXIT_USER_ERROR == 2
    assert capsys.readouterr().err == "prog: error: chunk=0 is not valid: | expected an integer >= 1\n"
    with pytest.raises(KeyError), main_guard("prog"):  # a bug keeps its traceback
        raise KeyError("bug")
    monkeypatch.setenv("UWE_DEBUG", "1")
    with pytest.raises(ConfigError), main_guard("prog"):  # the debug switch shows user errors' tracebacks too
        raise ConfigError("x")


@pytest.mark.parametrize("entry, overrides, message", [
    ("eval", ["chunk=0"], "chunk=0 is not valid: expected an integer >= 1"),
    ("eval", ["encoder.max_length=-1"], "encoder.max_length=-1 is not valid"),
    ("eval", ["split=foo"], "split='foo' is not valid: expected one of val, test"),
    ("eval", ["tasks=jobnorm"], "tasks='jobnorm' is not valid: expected a list of names"),
    ("eval", ["max_queries=5"], "max_queries=5 on the test split would not give reportable numbers"),
    ("train", ["optimizer.lr=abc"], "optimizer.lr='abc' is not valid: expected a finite number > 0"),
    ("train", ["batch.nodes=0"], "batch.nodes=0 is not valid"),
])
def test_config_mistakes_are_config_errors_before_any_work(entry, overrides, message, tmp_path):
    cfg = compose_cfg(entry, f"data.root={tmp_path / 'none'}", *overrides)
    if entry == "eval":
        with pytest.raises(ConfigError, match=message):
            run_eval(cfg, show_progress=False)
    else:
        from uwe.train.run import train

        with pytest.raises(ConfigError, match=message):
            train(cfg)


def test_eval_py_ends_a_user_error_in_one_line_with_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "eval.py", "model=random", "tasks=[jobnrom]", f"data.root={tmp_path}",
                           f"hydra.run.dir={tmp_path / 'run'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("eval.py: error: unknown task 'jobnrom'; valid: ")


def test_a_corrupt_checkpoint_names_the_file_and_not_weights_only(tmp_path):
    from uwe.train.module import UWEModule

    bad = tmp_path / "model.ckpt"
    bad.write_bytes(b"\x80\x04not a checkpoint" * 100)
    with pytest.raises(CheckpointError, match=f"checkpoint {bad} is not a uwe checkpoint or is damaged") as err:
        UWEModule.load_trained(bad)
    assert "weights_only" not in str(err.value)
    torch.save({"state_dict": {}}, bad)  # a torch file, but no uwe checkpoint
    with pytest.raises(CheckpointError, match=str(bad)):
        UWEModule.load_trained(bad)


# Labels and texts ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("labels, message", [
    (["caf\u00e9", "cafe\u0301"], r"labels\[1\] .* duplicates labels\[0\] .*NFC normalisation"),
    (["ok", "\u200b\u200d"], r"labels\[1\] .* has no visible character"),
    (["\x07\x1b", "ok"], r"labels\[0\] .* has no visible character"),
    (["ok", "bad\udce9"], r"labels\[1\] is not valid Unicode: a lone surrogate"),
])
def test_bad_labels_are_refused(labels, message):
    with pytest.raises(UserError, match=message):
        check_labels(labels)


def test_a_lone_surrogate_in_a_text_names_its_index(tmp_path):
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, show_progress=False)
    ranker.add_space("demo", ["python", "sql"])
    with pytest.raises(UserError, match=r"texts\[1\] is not valid Unicode: a lone surrogate '\\udce9' at character 3"):
        ranker.rank(["python", "caf\udce9"], "demo", k=1)
