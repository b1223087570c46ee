"""JobBERT evaluation titles: ``vacancyTitle,conceptUri``, or the ``text,label`` variant."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from uwe.data.errors import DataError
from uwe.data.readers.table import read_table

VARIANTS = (("vacancyTitle", "conceptUri"), ("text", "label"))


def read_titles(path: Path) -> pd.DataFrame:
    """Columns ``title`` and ``uri`` (an ESCO occupation URI) from either published variant."""
    df = read_table(path, [], what=str(path))
    for title, uri in VARIANTS:
        if title in df.columns and uri in df.columns:
            return pd.DataFrame({"title": df[title], "uri": df[uri]})
    raise DataError(
        f"{path}: expected columns {' or '.join('+'.join(v) for v in VARIANTS)}; it has {list(df.columns)}"
    )
