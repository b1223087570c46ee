"""``uwe annotate`` on Ray Data (started in-process on one CPU, the tiny model): parts and manifest, bad rows
and bad files, a rerun annotates only what is missing, a changed input part is redone, another run's output
is refused, command mistakes are one line before any work, and a killed run resumes to the same dataset."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from uwe.annotate import AnnotateOptions, Annotator, ModelSpec
from uwe.cli import main

pytest.importorskip("ray")

ADS = ["Baker (m/f/d)\nRequirements:\n- You bake bread.\n- You write Python code!",
       "Data Scientist\nWrite Python code and apply statistics.",
       "Knead dough by hand. Bake bread every morning, and write scripts."]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A data root, a model cache shared by the module's runs, and Ray on one CPU without a dashboard (its
    workers inherit this environment: offline, unknown data allowed)."""
    import ray

    from tests.conftest import write_root

    base = tmp_path_factory.mktemp("annotate_env")
    os.environ["HF_HUB_OFFLINE"] = "1"
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield {"root": str(write_root(base / "data")), "cache": str(base / "cache")}
    ray.shutdown()


def dataset(folder: Path) -> Path:
    """a.parquet: 30 rows in row groups of 10 (a missing id, a null text, a duplicate id); b.csv: 5 rows, one
    id already in a.parquet; c.jsonl: a number as text; broken.parquet: not Parquet; notes.txt: skipped."""
    folder.mkdir()
    ids = [f"a{i}" for i in range(30)]
    ids[3], ids[7] = None, "a1"
    texts = [ADS[i % 3] for i in range(30)]
    texts[5] = None
    pd.DataFrame({"id": ids, "text": texts}).to_parquet(folder / "a.parquet", row_group_size=10)
    pd.DataFrame({"id": ["b0", "b1", "a2", "b3", "b4"], "text": ADS + ADS[:2]}).to_csv(folder / "b.csv", index=False)
    (folder / "c.jsonl").write_text("\n".join(json.dumps(row) for row in ({"id": "c0", "text": ADS[0]},
                                                                         {"id": "c1", "text": 7})) + "\n")
    (folder / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (folder / "notes.txt").write_text("not data")
    return folder


def annotate(env, src, out, *args) -> int:
    return main(["annotate", str(src), "--out", str(out), "--model", "tiny", "--data-root", env["root"],
                 "--cache-dir", env["cache"], "--part-rows", "20", "--no-progress", *args])


def error_lines(err: str) -> list[str]:
    """stderr without the tiny data root's UNVERIFIED warnings and the skipped notes.txt."""
    return [line for line in err.strip().splitlines() if not line.startswith(("UNVERIFIED", "uwe annotate: skipped"))]


def parts(out: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(out.glob("*.parquet"))], ignore_index=True)


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.parquet")}


def test_parts_manifest_bad_rows_and_bad_files(env, tmp_path, capsys):
    src, out = dataset(tmp_path / "in"), tmp_path / "out"
    assert annotate(env, src, out) == 1  # broken.parquet is named; the others are annotated
    err = capsys.readouterr().err
    assert "broken.parquet: not annotated (unreadable as parquet" in err
    assert sorted(p.name for p in out.glob("*.parquet")) == [
        "a.parquet-00000.parquet", "a.parquet-00001.parquet", "b.csv-00000.parquet", "c.jsonl-00000.parquet"]
    rows = parts(out)
    assert len(rows) == 37 and rows["id"].tolist()[:3] == ["a0", "a1", "a2"]
    errors = dict(enumerate(rows["error"].astype(object).where(rows["error"].notna(), None)))
    assert errors[3].startswith("the id is missing") and errors[5] == "the text is missing (null)"
    assert errors[7].startswith("duplicate id 'a1'") and errors[32].startswith("duplicate id 'a2'")  # b.csv's a2
    assert "is a int, not a string" in errors[36]
    assert sum(e is not None for e in errors.values()) == 5

    record = json.loads((out / "_manifest.json").read_text())
    assert record["totals"] == {"rows": 37, "annotated": 32, "bad_rows": 5, "files": 3, "bad_files": 1, "parts": 4,
                                "by_kind": {"missing id": 1, "empty": 1, "duplicate id": 2, "not a string": 1}}
    by_path = {i["path"]: i for i in record["inputs"]}
    assert by_path["a.parquet"]["sha256"] == hashlib.sha256((src / "a.parquet").read_bytes()).hexdigest()
    assert by_path["a.parquet"]["rows"] == 30 and by_path["a.parquet"]["complete"]
    assert by_path["b.csv"]["bad_rows"] == {"duplicate id": 1} and by_path["c.jsonl"]["annotated"] == 1
    assert [b["path"] for b in record["bad_files"]] == ["broken.parquet"]
    assert record["run"]["model"]["name"] == "tiny" and len(record["run"]["model"]["checksum"]) == 64
    assert record["run"]["options"]["text_column"] == "text" and record["uwe"]["version"]
    meta = json.loads(pq.read_schema(out / "b.csv-00000.parquet").metadata[b"uwe.annotate"])
    assert (meta["rows"], meta["annotated"], meta["errors"]) == (5, 4, {"duplicate id": 1})

    # the Ray path gives the batch function's rows (which equal Ranker.extract: tests/test_annotate_batch.py)
    spec = ModelSpec("tiny", cache_dir=env["cache"], data_root=env["root"])
    direct = Annotator(spec, AnnotateOptions())(pd.read_csv(src / "b.csv", dtype=str), duplicates=frozenset({2}))
    got = rows.iloc[30:35].reset_index(drop=True)
    for mine, theirs in zip(got["skills"], direct["skills"]):
        assert [s["uri"] for s in mine] == [s["uri"] for s in theirs]
        assert [s["probability"] for s in mine] == pytest.approx([s["probability"] for s in theirs], abs=1e-5)


def test_a_rerun_skips_done_parts_and_redoes_a_changed_input(env, tmp_path, capsys):
    src, out = dataset(tmp_path / "in"), tmp_path / "out"
    annotate(env, src, out)
    before = stamps(out)
    capsys.readouterr()
    assert annotate(env, src, out) == 1
    assert "0 part(s) written, 4 already done" in capsys.readouterr().err and stamps(out) == before

    with open(src / "b.csv", "a") as f:
        f.write("b5,Knead dough by hand.\n")
    assert annotate(env, src, out) == 1
    assert "1 part(s) written, 3 already done" in capsys.readouterr().err
    after = stamps(out)
    assert after["b.csv-00000.parquet"] != before["b.csv-00000.parquet"]
    assert {k: v for k, v in after.items() if k != "b.csv-00000.parquet"} == \
           {k: v for k, v in before.items() if k != "b.csv-00000.parquet"}
    assert pd.read_parquet(out / "b.csv-00000.parquet")["id"].tolist() == ["b0", "b1", "a2", "b3", "b4", "b5"]
    record = json.loads((out / "_manifest.json").read_text())
    b = next(i for i in record["inputs"] if i["path"] == "b.csv")
    assert b["rows"] == 6 and b["sha256"] == hashlib.sha256((src / "b.csv").read_bytes()).hexdigest()


def test_another_runs_output_is_refused_unless_overwrite(env, tmp_path, capsys):
    src, out = dataset(tmp_path / "in"), tmp_path / "out"
    annotate(env, src, out)
    before = stamps(out)
    capsys.readouterr()
    assert annotate(env, src, out, "--min-prob", "0.3") == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and "another set of options (min_prob: None, this run: 0.3): pass --overwrite" in err[0]
    assert stamps(out) == before
    assert annotate(env, src, out, "--min-prob", "0.3", "--embeddings", "float16", "--overwrite") == 1
    assert "4 part(s) written, 0 already done" in capsys.readouterr().err
    options = json.loads((out / "_manifest.json").read_text())["run"]["options"]
    assert (options["min_prob"], options["embeddings"]) == (0.3, "float16")
    table = pq.read_table(out / "b.csv-00000.parquet")
    kind = table.schema.field("embedding").type
    assert pa.types.is_fixed_size_list(kind) and kind.value_type == pa.float16() and kind.list_size == 32
    assert [v is None for v in table.column("embedding").to_pylist()] == [False, False, True, False, False]  # a2


def test_command_mistakes_are_one_line_before_any_work(env, tmp_path, capsys, monkeypatch):
    src, out = dataset(tmp_path / "in"), tmp_path / "out"
    assert annotate(env, src, out, "--text", "body") == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and "a.parquet has no column 'body' (--text); its columns: id, text" in err[0]
    assert not out.exists()
    with pytest.raises(SystemExit) as stop:
        annotate(env, src, out, "--bogus")
    assert stop.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert annotate(env, tmp_path / "nowhere", out) == 2 and "does not exist" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray.data", None)  # as if ray[data] were not installed
    assert annotate(env, src, out) == 2
    assert 'not installed: pip install -e ".[scale]"' in capsys.readouterr().err and not out.exists()


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` at once, as a machine that dies: the driver, Ray's processes, and
    its workers (each in a process group of its own)."""
    stopped = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.name.isdigit() and int(fields[3]) == sid:  # after ")": state ppid pgrp session
            with contextlib.suppress(ProcessLookupError):  # it may have ended since the listing
                os.kill(int(entry.name), signal.SIGSTOP)  # none can finish a part while the others are killed
                stopped.append(int(entry.name))
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_run_resumes_to_the_same_dataset(env, tmp_path, capsys):
    """SIGKILL the run's whole session (driver, its local Ray and workers) once some parts are written; the rerun
    writes only the missing parts and the dataset equals an uninterrupted run's, row for row."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        pd.DataFrame({"id": [f"f{i}-{j}" for j in range(40)], "text": [ADS[(i + j) % 3] for j in range(40)]}) \
            .to_parquet(src / f"p{i:02d}.parquet")
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    command = [sys.executable, "-m", "uwe.cli", "annotate", str(src), "--out", str(killed), "--model", "tiny",
               "--data-root", env["root"], "--cache-dir", env["cache"], "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while len(list(killed.glob("*.parquet"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    kill_session(proc.pid)
    proc.wait()
    done = stamps(killed)
    assert 2 <= len(done) < 12, f"{len(done)} parts at the kill: the run was not killed mid-way"
    capsys.readouterr()
    assert annotate(env, src, killed) == 0
    assert f"{12 - len(done)} part(s) written, {len(done)} already done" in capsys.readouterr().err
    assert {k: stamps(killed)[k] for k in done} == done  # the parts written before the kill are kept as they were
    assert annotate(env, src, whole) == 0
    assert sorted(p.name for p in killed.glob("*")) == sorted(p.name for p in whole.glob("*"))
    pd.testing.assert_frame_equal(parts(killed), parts(whole))
    assert len(parts(killed)) == 480 and parts(killed)["id"].is_unique
