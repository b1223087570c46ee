"""``uwe annotate --watch``: a file landing in INPUT is annotated by the next poll, and SIGTERM lets the run
finish and exit 0 with its manifest written (a subprocess with its own local Ray on one worker, tiny model)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

pytest.importorskip("ray")

AD = "Baker (m/f/d)\nRequirements:\n- You bake bread.\n- You write Python code!"


def wait_for(condition, limit: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < limit, f"not within {limit} s"
        time.sleep(0.05)
    return time.monotonic() - start


def test_watch_annotates_new_files_and_stops_on_sigterm(tmp_path):
    from tests.conftest import write_root

    root, src, out = write_root(tmp_path / "data"), tmp_path / "in", tmp_path / "out"
    src.mkdir()
    pd.DataFrame({"id": ["x0", "x1"], "text": [AD, AD]}).to_parquet(src / "first.parquet")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "UWE_ALLOW_UNKNOWN_DATA": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uwe.cli", "annotate", str(src), "--out", str(out), "--model",
                             "tiny", "--data-root", str(root), "--cache-dir", str(tmp_path / "cache"), "--workers", "1",
                             "--watch", "0.5", "--no-progress"], start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (out / "first.parquet-00000.parquet").exists(), 120)
        staged = tmp_path / "second.parquet"  # lands whole: written beside INPUT, then moved in
        pd.DataFrame({"id": [f"y{i}" for i in range(20)], "text": [AD] * 20}).to_parquet(staged)
        os.replace(staged, src / "second.parquet")
        latency = wait_for(lambda: (out / "second.parquet-00000.parquet").exists(), 60)
        assert proc.poll() is None, "the watch ended on its own"
        wait_for(lambda: json.loads((out / "_manifest.json").read_text())["totals"]["rows"] == 22, 10)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read()
    assert "1 part(s) written, 1 already done" in err, err  # the second pass annotated the new file only
    record = json.loads((out / "_manifest.json").read_text())
    assert [i["path"] for i in record["inputs"]] == ["first.parquet", "second.parquet"]
    assert record["totals"]["annotated"] == 22
    print(f"new file to its part: {latency:.1f} s (poll 0.5 s)")
