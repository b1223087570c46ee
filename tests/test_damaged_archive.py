"""A damaged member of a zip archive (its directory intact, its bytes not) is one clear error in every entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import damage_member, require_real_data
from uwe.data.errors import DataError
from uwe.data.readers.archive import open_bytes, read_member

ROOT = Path(__file__).resolve().parents[1]


def test_read_member_names_the_archive_and_the_damaged_member(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("folder/skills_en.csv", "conceptUri,preferredLabel\n" + "x,skill number {}\n" * 2000)
        zf.writestr("other.csv", "a\n1\n")
    assert read_member(archive, "other.csv") == b"a\n1\n"
    damage_member(archive, "skills_en.csv")
    with pytest.raises(DataError, match=r"export.zip: its member folder/skills_en.csv is damaged \((BadZipFile|error)"):
        read_member(archive, "skills_en.csv")
    with pytest.raises(DataError, match="download it again"):
        open_bytes(archive, "skills_en.csv")
    assert read_member(archive, "other.csv") == b"a\n1\n"  # the other members still read


@pytest.fixture(scope="module")
def damaged_root(tmp_path_factory):
    """The real data root with a copy of the ESCO v1.1.1 classification zip whose skills_en.csv is damaged."""
    real = require_real_data()
    root = tmp_path_factory.mktemp("damaged")
    for source in real.rglob("*"):
        if source.is_file():
            target = root / source.relative_to(real)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.name == "esco_v1.1.1_classification_en_csv.zip":
                target.write_bytes(source.read_bytes())
            else:
                target.symlink_to(source)
    damage_member(root / "esco" / "v1.1.1" / "esco_v1.1.1_classification_en_csv.zip", "skills_en.csv")
    return root


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["-m", "uwe.data", "summary"],
    ["eval.py", "model=random", "tasks=[job2skill]", "logger=none"],
    ["train.py", "experiment=smoke", "encoder=tiny", "logger=none", "trainer.max_steps=1"],
    ["-m", "uwe.cli", "rank", "--model", "tiny", "--space", "esco_skills", "python"],
])
def test_every_entry_point_reports_the_damaged_member_in_one_line(damaged_root, tmp_path, command):
    env = {**os.environ, "UWE_DATA_DIR": str(damaged_root), "UWE_CACHE_DIR": str(tmp_path / "cache"),
           "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("UWE_ALLOW_UNKNOWN_DATA", None)
    hydra = [f"hydra.run.dir={tmp_path / 'run'}"] if command[0].endswith(".py") else []
    proc = subprocess.run([sys.executable, *command, *hydra], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "esco_v1.1.1_classification_en_csv.zip: its member skills_en.csv is damaged" in last
    assert "download it again" in last
