"""Text hygiene shared by tasks and graphs."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from uwe.errors import UserError

# Characters that show nothing: whitespace and separators, control and format (zero-width) characters,
# surrogates and unassigned code points.
_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Cn"})


def check_unicode(text: str, what: str) -> None:
    """:class:`UserError` naming ``what`` (e.g. ``texts[3]``) if ``text`` holds a lone surrogate, which no
    UTF-8 tokenizer or file can take.

    >>> check_unicode("caf\\udce9", "texts[0]")
    Traceback (most recent call last):
    uwe.errors.UserError: texts[0] is not valid Unicode: a lone surrogate '\\udce9' at character 3
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise UserError(f"{what} is not valid Unicode: a lone surrogate {text[err.start]!r} at character "
                        f"{err.start}") from None


def label_key(label: str) -> str:
    """How labels are compared: NFC-normalised and stripped (``café`` typed as NFC or NFD is one label).

    >>> label_key(" cafe\u0301 ") == label_key("caf\u00e9")
    True
    """
    return unicodedata.normalize("NFC", label).strip()


def is_invisible(text: str) -> bool:
    """True when ``text`` has no visible character (only whitespace, control or zero-width ones).

    >>> is_invisible("\u200b\u200d\t"), is_invisible("\u200bx")
    (True, False)
    """
    return all(unicodedata.category(c) in _INVISIBLE for c in text)


def split_labels(cell: str, *, exclude: str = "") -> list[str]:
    """ESCO multi-label cell -> labels: split on newlines, strip, keep if longer than one character,
    drop duplicates (first kept) and ``exclude`` (the concept's own preferred label).

    >>> split_labels("a b\\n x \\n a b\\nself\\n", exclude="self")
    ['a b']
    """
    out: list[str] = []
    for raw in cell.split("\n"):
        label = raw.strip()
        if len(label) > 1 and label != exclude and label not in out:
            out.append(label)
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split a description into sentences at ``. ``/``! ``/``? `` followed by a capital or digit.

    >>> split_sentences("Assign staff. Manage budgets, e.g. costs.  ")
    ['Assign staff.', 'Manage budgets, e.g. costs.']
    """
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if len(s.strip()) > 1]


def strip_pairs(pairs: Iterable[tuple[object, object]]) -> tuple[list[tuple[str, str]], int]:
    """Stripped (a, b) text pairs, and how many were dropped because a side was empty or not a string
    (NaN from a CSV, None).

    >>> strip_pairs([(" a ", "b"), ("", "b"), ("c", float("nan"))])
    ([('a', 'b')], 2)
    """
    kept, dropped = [], 0
    for a, b in pairs:
        a = a.strip() if isinstance(a, str) else ""
        b = b.strip() if isinstance(b, str) else ""
        if a and b:
            kept.append((a, b))
        else:
            dropped += 1
    return kept, dropped
