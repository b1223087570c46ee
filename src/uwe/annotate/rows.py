"""Which rows of a batch cannot be annotated, and why: each bad row gets one reason in ``error`` and the run
goes on. The kinds are counted in every part's footer and in ``_manifest.json``."""

from __future__ import annotations

import math

import pandas as pd

from uwe.extract.checks import check_ad
from uwe.errors import UserError

# Kinds of bad rows, in the order they are checked (a row gets the first that applies).
KINDS = ("missing id", "duplicate id", "not a string", "empty", "too long", "not extractable")


def check_columns(columns: list[str], wanted: dict[str, str], where: str) -> None:
    """:class:`UserError` naming the first option in ``wanted`` (option -> column) whose column ``where`` lacks.

    >>> check_columns(["id", "body"], {"--id": "id", "--text": "text"}, "ads.csv")
    Traceback (most recent call last):
    uwe.errors.UserError: ads.csv has no column 'text' (--text); its columns: id, body: name the ad's column with --text
    """
    for option, column in wanted.items():
        if column not in columns:
            what = "the ad's column" if option == "--text" else "it"
            raise UserError(f"{where} has no column {column!r} ({option}); its columns: "
                            f"{', '.join(map(str, columns))}: name {what} with {option}")


def is_missing(value) -> bool:
    """None, NaN, pandas' NA, or a string with no visible character."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def id_text(value) -> str:
    """An id as the text written out: a string as it is, a number without a trailing ``.0`` when whole."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def row_errors(ids: list, texts: list, titles: list | None, max_chars: int, any_language: bool,
               duplicates: frozenset[int] = frozenset()) -> list[tuple[str, str] | None]:
    """Per row, None or ``(kind, reason)``.

    Args:
        ids, texts, titles: the batch's cells (``titles`` None: no title column).
        duplicates: rows whose id an earlier part of the dataset already has (found when the run was planned);
            within the batch, a repeated id is found here. The first row with an id is annotated, later ones not.
    """
    out: list[tuple[str, str] | None] = []
    seen: set[str] = set()
    for i, (id_, text) in enumerate(zip(ids, texts)):
        key = None if is_missing(id_) else id_text(id_)
        title = None if titles is None else titles[i]
        if key is None:
            out.append(("missing id", f"the id is missing ({id_!r})"))
        elif i in duplicates or key in seen:
            out.append(("duplicate id", f"duplicate id {key!r}: an earlier row has it (that one is annotated)"))
        elif is_missing(text) and not isinstance(text, str):
            out.append(("empty", "the text is missing (null)"))
        elif not isinstance(text, str):
            out.append(("not a string", f"the text is a {type(text).__name__}, not a string: {str(text)[:40]!r}"))
        elif not text.strip():
            out.append(("empty", "the text is empty (only whitespace)"))
        elif len(text) > max_chars:
            out.append(("too long", f"the text has {len(text):,} characters, more than the limit of {max_chars:,}"))
        elif title is not None and not is_missing(title) and not isinstance(title, str):
            out.append(("not a string", f"the title is a {type(title).__name__}, not a string"))
        else:
            try:
                check_ad(text, any_language, max_chars)
                out.append(None)
            except UserError as err:
                out.append(("not extractable", str(err)))
        if key is not None:
            seen.add(key)
    return out
