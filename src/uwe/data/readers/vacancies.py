"""The vacancy job-to-skill parquet: one row per vacancy title with its list of ESCO skill names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from uwe.data.errors import DataError
from uwe.data.readers.table import check_columns


def read_vacancies(path: Path) -> pd.DataFrame:
    """Columns ``title`` (str) and ``skill_name`` (list of str)."""
    try:
        df = pd.read_parquet(path, columns=None)
    except Exception as e:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path}: cannot be read as parquet ({type(e).__name__}: {e})") from e
    check_columns(df, ["title", "skill_name"], what=str(path))
    return pd.DataFrame(
        {"title": df["title"].astype(str), "skill_name": [list(x) if x is not None else [] for x in df["skill_name"]]}
    )
