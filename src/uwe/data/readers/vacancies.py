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


GRADE_COLUMNS = ["skill_occurrence_pct", "skill_prob_avg"]


def read_vacancy_grades(path: Path) -> pd.DataFrame:
    """One row per (title, skill): ``title``, ``skill_name``, ``occurrence`` (share of the title's merged
    vacancies that name the skill, ``skill_occurrence_pct``) and ``prob`` (the tagger's mean confidence,
    ``skill_prob_avg``), for graded preferences. Each list column must align with ``skill_name``."""
    try:
        df = pd.read_parquet(path, columns=["title", "skill_name", *GRADE_COLUMNS])
    except Exception as e:  # a missing column is a KeyError/ArrowInvalid; a damaged file another type
        raise DataError(f"{path}: cannot read the columns title, skill_name, {', '.join(GRADE_COLUMNS)} "
                        f"({type(e).__name__}: {e}); the graded preferences need the published file") from e
    rows = []
    for i, (title, names, occ, prob) in enumerate(zip(df["title"], df["skill_name"], df[GRADE_COLUMNS[0]],
                                                      df[GRADE_COLUMNS[1]])):
        names, occ, prob = (list(x) if x is not None else [] for x in (names, occ, prob))
        if not len(names) == len(occ) == len(prob):
            raise DataError(f"{path}: row {i} ({title!r}) has {len(names)} skills but {len(occ)} occurrence and "
                            f"{len(prob)} probability values; is this the published file?")
        rows += [(str(title), s, float(o), float(p)) for s, o, p in zip(names, occ, prob)]
    return pd.DataFrame(rows, columns=["title", "skill_name", "occurrence", "prob"])
