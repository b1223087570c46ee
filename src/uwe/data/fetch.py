"""Fetch the public raw data into the data root, for machines that are online.

ESCO has no stable download address (its portal builds each export on request), so ``fetch`` tells the user
exactly which export to download and where to put it; the rest is downloaded by name.
"""

from __future__ import annotations

import logging
import shutil
import urllib.request
import zipfile
from pathlib import Path

from uwe.data.readers.archive import read_member
from uwe.data.root import SOURCES

log = logging.getLogger(__name__)

ONET_URL = "https://www.onetcenter.org/dl_files/database/db_29_2_text.zip"
HF_DATASETS = {
    "jobbert_eval": ("TechWolf/JobBERT-evaluation-dataset", {"titles.csv": "titles.csv", "titles.test.csv": "titles.test.csv"}),
    "vacancies": ("TechWolf/vacancy-job-to-skill", {"job_skill_val.parquet": "*validation*.parquet"}),
}


def fetch_onet(root: Path) -> None:
    dest = root / SOURCES["onet"].folder
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / "onet.zip.part"
    log.info("downloading %s", ONET_URL)
    with urllib.request.urlopen(ONET_URL, timeout=120) as r, open(tmp, "wb") as f:
        shutil.copyfileobj(r, f)
    with zipfile.ZipFile(tmp) as zf:
        names = {member.rsplit("/", 1)[-1] for member in zf.namelist()}
    for name in sorted(names & set(SOURCES["onet"].files)):
        (dest / name).write_bytes(read_member(tmp, name))  # a damaged member: one clear error
    tmp.unlink()


def fetch_hf(root: Path, source: str) -> None:
    """Download a public Hugging Face dataset's files into ``root/<source folder>``."""
    from huggingface_hub import snapshot_download

    repo, files = HF_DATASETS[source]
    dest = root / SOURCES[source].folder
    snap = Path(snapshot_download(repo_id=repo, repo_type="dataset", allow_patterns=list(files.values())))
    dest.mkdir(parents=True, exist_ok=True)
    for name, pattern in files.items():
        match = sorted(snap.rglob(pattern))
        if not match:
            raise FileNotFoundError(f"{repo} has no file matching {pattern}; its layout changed, see {SOURCES[source].get_it}")
        shutil.copyfile(match[0], dest / name)


def manual_steps(root: Path) -> list[str]:
    """What cannot be downloaded by name: where to get it and where to put it."""
    return [
        f"{s.version}: from {s.get_it}, put the zip in {root / s.folder}/"
        for s in SOURCES.values()
        if s.in_zip
    ] + [f"{SOURCES['skill_extraction'].version}: from {SOURCES['skill_extraction'].get_it}, "
         f"put the four *_annotations.csv in {root / SOURCES['skill_extraction'].folder}/"]


def fetch(root: Path) -> list[str]:
    """Download what has a stable public address; return the manual steps left."""
    fetch_onet(root)
    for source in HF_DATASETS:
        fetch_hf(root, source)
    return manual_steps(root)
