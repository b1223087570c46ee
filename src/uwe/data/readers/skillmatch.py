"""SkillMatch-1K pairs: ``skill_a, skill_b, related`` (1 = related)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from uwe.data.errors import DataError
from uwe.data.readers.table import read_table


def read_skillmatch(path: Path) -> pd.DataFrame:
    """The related pairs only (``related == 1``), columns ``skill_a`` and ``skill_b``."""
    df = read_table(path, ["skill_a", "skill_b", "related"], what=str(path))
    bad = sorted(set(df["related"].str.strip()) - {"0", "1"})
    if bad:
        raise DataError(f"{path}: column related must be 0 or 1, found {bad[:5]}")
    return df[df["related"].str.strip() == "1"][["skill_a", "skill_b"]].reset_index(drop=True)
