"""Read a delimited table as strings and check its columns, with errors that name the file."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from uwe.data.errors import DataError


def read_table(
    data: io.BytesIO | Path,
    required: list[str],
    *,
    what: str,
    sep: str = ",",
) -> pd.DataFrame:
    """Every column as ``str`` (empty cells are ``""``, never NaN); raise naming ``what`` on a bad file.

    ``what`` describes the file for messages (its path, or ``zip:member``).
    """
    try:
        df = pd.read_csv(data, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{what}: cannot be read as a {'tab' if sep == chr(9) else 'comma'}-separated table ({e})") from e
    check_columns(df, required, what=what)
    return df


def check_columns(df: pd.DataFrame, required: list[str], *, what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(
            f"{what}: missing column(s) {missing}; it has {list(df.columns)}. "
            "Is this the official export of that file?"
        )
