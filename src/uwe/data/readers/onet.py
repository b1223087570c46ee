"""O*NET text database (tab-separated, official file names, all columns read as strings)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from uwe.data.readers.table import read_table

CODE = "O*NET-SOC Code"
COLUMNS = {
    "Occupation Data.txt": [CODE, "Title"],
    "Technology Skills.txt": [CODE, "Example"],
    "Alternate Titles.txt": [CODE, "Alternate Title"],
}


def read_onet(path: Path) -> pd.DataFrame:
    """One O*NET file by its official name (``path.name`` picks the required columns)."""
    return read_table(path, COLUMNS.get(path.name, [CODE]), what=str(path), sep="\t")
