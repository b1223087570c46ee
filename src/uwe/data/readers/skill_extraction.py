"""Skill-extraction annotations: one row per (sentence, span, label); ``sentence`` and ``label`` are used."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from uwe.data.readers.table import read_table

NO_SKILL_LABELS = ("LABEL NOT PRESENT", "UNDERSPECIFIED")


def read_annotations(path: Path) -> pd.DataFrame:
    return read_table(path, ["sentence", "label"], what=str(path))
