"""Split a job ad into sentences with their character offsets: lines first, then sentences within a line.

Real ads are lists as much as prose: a bullet, a line of a list or a heading is a unit of its own even
without a full stop, so every line break ends a segment, and a leading bullet marker (``-``, ``*``, ``•``,
``1.``, ``a)``) is not part of it. Within a line, sentences are found by ``sentencex`` (Wikimedia's
rule-based segmenter: about 300 languages, abbreviation lists such as ``e.g.``, ``Dr.``, ``etc.``, no model
to download; chosen over pysbd, unreleased since 2021, and NLTK's punkt, which needs a data download).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentencex import get_sentence_boundaries

# A list marker at the start of a line: a bullet character, or an enumeration such as "1." "2)" "a)" "iv."
_BULLET = re.compile(r"^\s*(?:[-*•·‣◦▪▫■□●○–—>+]+|\(?(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,4})[.)])\s+")
# Where a sentence falls apart into clauses that may each name a skill: punctuation inside it, and the words
# that join list items ("and", "or", "such as", "including", "e.g."), matched as whole words.
_CLAUSE_BREAK = re.compile(r"\s*(?:[,;:()/]|\band\b|\bor\b|\bsuch as\b|\bincluding\b|\be\.g\.)\s*", re.IGNORECASE)
# A segment needs a letter or digit to be worth scoring ("---", "•", "**" are layout).
_WORDLIKE = re.compile(r"\w")
# Section names that head a list in job ads even without a colon. Tried as a new user would on a nurse ad,
# "Requirements:" gave "identify legal requirements" (27%) and "Responsibilities:" "assume responsibility" (26%):
# a heading names what follows, it asks for nothing itself.
SECTION_NAMES = frozenset(
    "about us|about you|about the role|about the job|about the team|benefits|duties|key responsibilities|"
    "main responsibilities|nice to have|our offer|perks|profile|qualifications|requirements|responsibilities|"
    "role|skills|tasks|the role|what we offer|what you bring|what you will do|what you'll do|"
    "who we are|who you are|your profile|your role|your skills|your tasks|job description|description|"
    "essential skills|desirable skills|preferred qualifications|minimum qualifications|requirements and skills"
    .split("|"))
# A heading or a list's introduction is short: longer lines ending with a colon are kept (a sentence may end
# with one and still ask for something), up to this many words.
HEADING_MAX_WORDS = 8
# Markdown and decoration around a heading: "## Requirements", "**Requirements:**", "REQUIREMENTS -".
_HEADING_TRIM = re.compile(r"^[#*_\s]+|[#*_\s:\-–—]+$")
# A bracketed aside, with the space before it: "(night shifts)", "(m/f/d)", "[Remote]".
_ASIDE = re.compile(r"\s*(?:\([^()]*\)|\[[^\[\]]*\])")


@dataclass(frozen=True)
class Segment:
    """One sentence of an ad: its text (stripped, without a bullet marker) and where it is, so that
    ``ad[start:end] == text``."""

    text: str
    start: int
    end: int


def segment_ad(text: str, language: str = "en") -> list[Segment]:
    """The sentences of ``text``, in order, each with ``text[start:end] == segment.text``.

    Every line is split apart (bullets, list lines and headings are sentences too); a line's bullet marker
    is dropped; within a line ``sentencex`` splits sentences and keeps abbreviations whole; segments without
    a letter or digit are dropped.

    >>> [s.text for s in segment_ad("Data Engineer\\n- Python, e.g. pandas. SQL too!\\n2) Spark")]
    ['Data Engineer', 'Python, e.g. pandas.', 'SQL too!', 'Spark']
    >>> ad = "Hi.\\n  * Be kind."
    >>> [(s.text, ad[s.start:s.end]) for s in segment_ad(ad)][1]
    ('Be kind.', 'Be kind.')
    """
    segments: list[Segment] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        body_start = offset
        bullet = _BULLET.match(line)
        if bullet:
            body_start += bullet.end()
        body = text[body_start:offset + len(line.rstrip("\r\n\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85"))]
        cursor = 0
        for boundary in get_sentence_boundaries(language, body) if body.strip() else ():
            piece = boundary["text"].strip()
            # sentencex's indices are not documented as character offsets: find the text itself instead
            found = body.find(piece, cursor)
            if not piece or found < 0 or not _WORDLIKE.search(piece):
                continue
            cursor = found + len(piece)
            segments.append(Segment(piece, body_start + found, body_start + cursor))
        offset += len(line)
    return segments


def is_heading(segment: str) -> bool:
    """Whether ``segment`` only heads or introduces what follows (a section name, or a short line ending
    with a colon), so that it is context and asks for no skill of its own.

    >>> [is_heading(s) for s in ("Requirements:", "## Your profile", "What you will do:", "RESPONSIBILITIES")]
    [True, True, True, True]
    >>> [is_heading(s) for s in ("Python and SQL", "Skills: Python, SQL", "Requirements for the role are many.")]
    [False, False, False]
    """
    text = segment.strip()
    bare = _HEADING_TRIM.sub("", text).lower()
    if bare in SECTION_NAMES:
        return True
    return text.rstrip("*_ ").endswith(":") and len(bare.split()) <= HEADING_MAX_WORDS


def title_core(title: str) -> str:
    """``title`` without its bracketed asides, which say how the job is done (schedule, place, contract,
    "(m/f/d)"), not what it asks for. Tried as a new user would on a nurse ad, the title's "(night shifts)" gave
    "schedule shifts" (26%): the title's skills are those of its core.

    >>> [title_core(t) for t in ("Registered Nurse (night shifts)", "Data Engineer [Remote] (m/f/d)", "(Temp)")]
    ['Registered Nurse', 'Data Engineer', '']
    """
    return " ".join(_ASIDE.sub(" ", title).split())


def clauses(sentence: str) -> list[str]:
    """The parts of ``sentence`` between commas, semicolons, colons, brackets, slashes and list words ("and",
    "or", "such as", "including", "e.g."), without the sentence itself or repeats; parts of fewer than three
    characters are dropped. A sentence that lists several skills names each alone in one of its clauses.

    >>> clauses("Experience with Docker and CI/CD, e.g. Jenkins")
    ['Experience with Docker', 'Jenkins']
    >>> clauses("Python")
    []
    """
    parts = [part.strip() for part in _CLAUSE_BREAK.split(sentence)]
    out: list[str] = []
    for part in parts:
        if len(part) >= 3 and part != sentence.strip() and part not in out and _WORDLIKE.search(part):
            out.append(part)
    return out
