"""A job ad -> the ESCO skills it asks for and the occupations it is, each with a calibrated probability
and the sentences that say so.

The ad is checked (:func:`uwe.extract.checks.check_ad`) and split into sentences
(:func:`uwe.extract.segment.segment_ad`); every sentence and its clauses rank the ESCO skill space with the
model's head (:func:`uwe.extract.candidates.rank_sentences`); a skill is present in a sentence when it is among
the sentence's first ``max_per_sentence`` and its calibrated probability reaches the threshold fitted on
validation (:mod:`uwe.extract.fit`). A skill's probability in the ad is its best sentence's; its evidence is every
sentence where it is present, best first. The title (given, or the first line when it reads as one) ranks the
ESCO occupations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from uwe.extract.checks import AdError, check_ad
from uwe.extract.annotations import esco_uris
from uwe.extract.candidates import SKILL_SPACE, rank_sentences
from uwe.extract.fit import OCCUPATION_CANDIDATES, OCCUPATION_SPACE
from uwe.extract.segment import Segment, segment_ad
from uwe.extract.store import Calibration

# The first line is taken for the title when it is short and is not a sentence (no final . ! ? :).
TITLE_MAX_WORDS = 10


@dataclass(frozen=True)
class Evidence:
    """A sentence of the ad that asks for a skill: ``ad[start:end] == text``."""

    text: str
    start: int
    end: int
    probability: float


@dataclass(frozen=True)
class FoundSkill:
    label: str
    uri: str
    probability: float
    evidence: list[Evidence]


@dataclass(frozen=True)
class FoundOccupation:
    label: str
    uri: str
    probability: float


@dataclass(frozen=True)
class Extraction:
    """What :meth:`Extractor.extract` found in one ad: skills by probability, best first; the occupations of
    ``title`` (None when no title was given or found: ``title_source`` says which)."""

    skills: list[FoundSkill]
    occupations: list[FoundOccupation]
    title: str | None
    title_source: str
    sentences: int
    threshold: float
    model: str
    calibration: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def find_title(segments: list[Segment]) -> Segment | None:
    """The first segment when it reads as a title: at most :data:`TITLE_MAX_WORDS` words, no final . ! ? :

    >>> find_title(segment_ad("Senior Data Engineer (m/f/d)\\nWe build pipelines.")).text
    'Senior Data Engineer (m/f/d)'
    >>> find_title(segment_ad("We build pipelines.\\nSenior Data Engineer")) is None
    True
    """
    if not segments:
        return None
    first = segments[0]
    return first if len(first.text.split()) <= TITLE_MAX_WORDS and first.text[-1] not in ".!?:" else None


class Extractor:
    """Extracts with one ranker and its calibration (see the module docstring)."""

    def __init__(self, ranker, calibration: Calibration | None = None):
        self.ranker = ranker
        self._calibration = calibration
        self._uris: dict[str, dict[str, str]] = {}

    @property
    def calibration(self) -> Calibration:
        """The ranker's calibration, loaded (or fitted, :func:`uwe.extract.store.calibration_for`) on first use:
        after an ad passed its checks, so a bad ad is refused before any model work."""
        if self._calibration is None:
            from uwe.extract.store import calibration_for

            self._calibration = calibration_for(self.ranker)
        return self._calibration

    def _uri(self, kind: str, label: str) -> str:
        """The ESCO v1.1.1 URI of a ``kind`` (``skills`` or ``occupations``) preferred label."""
        if kind not in self._uris:
            self._uris[kind] = esco_uris(self.ranker.catalog.raw, kind)
        return self._uris[kind][label]

    def extract(self, text: str, title: str | None = None, min_prob: float | None = None, top: int | None = None,
                any_language: bool = False) -> Extraction:
        """The skills and occupations of the ad ``text``.

        Args:
            text: the whole ad (plain text; line breaks and bullets are kept as sentence boundaries).
            title: the job title; default: the ad's first line when it reads as one.
            min_prob: report skills whose probability reaches this (default: the calibrated operating point,
                the threshold with the best F1 on validation).
            top: at most this many skills, most probable first (default: all).
            any_language: extract from an ad that does not look English (default: refuse it).
        """
        check_ad(text, any_language)
        if title is not None:
            check_ad(title, any_language=True)
        if min_prob is not None and (isinstance(min_prob, bool) or not isinstance(min_prob, (int, float))
                                     or not 0.0 <= min_prob <= 1.0):
            raise ValueError(f"min_prob must be a probability in [0, 1], got {min_prob!r}")
        if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
            raise ValueError(f"top must be an integer >= 1, got {top!r}")
        segments = segment_ad(text)
        if not segments:
            raise AdError("the ad has no sentence with a letter or digit; give the text of a job ad")
        cal = self.calibration  # only now: a bad ad is refused before the model is calibrated
        threshold = cal.threshold if min_prob is None else min_prob
        found = find_title(segments) if title is None else None
        skills: dict[str, list[Evidence]] = {}
        ranked = rank_sentences(self.ranker, [s.text for s in segments], min(cal.max_per_sentence,
                                                                              self._size(SKILL_SPACE)))
        for segment, rows in zip(segments, ranked):
            labels, scores = zip(*rows)
            for label, prob in zip(labels, cal.skills(list(scores))):
                if prob >= threshold:
                    skills.setdefault(label, []).append(
                        Evidence(segment.text, segment.start, segment.end, float(prob)))
        out = sorted((FoundSkill(label, self._uri("skills", label), max(e.probability for e in evidence),
                                 sorted(evidence, key=lambda e: -e.probability))
                      for label, evidence in skills.items()), key=lambda s: (-s.probability, s.label))
        title_text = title.strip() if title is not None else (found.text if found else None)
        return Extraction(out[:top] if top else out, self._occupations(title_text), title_text,
                          "given" if title is not None else "first line" if found else "none", len(segments),
                          threshold, self.ranker.name, {"max_per_sentence": cal.max_per_sentence,
                                                        "threshold": cal.threshold,
                                                        "fitted_at": cal.record.get("fitted_at")})

    def _size(self, space: str) -> int:
        return len(self.ranker.space(space).labels)

    def _occupations(self, title: str | None) -> list[FoundOccupation]:
        if title is None:
            return []
        (rows,) = self.ranker.rank(title, OCCUPATION_SPACE, k=min(OCCUPATION_CANDIDATES, self._size(OCCUPATION_SPACE)))
        probs = self.calibration.occupations([score for _, score in rows])
        return [FoundOccupation(label, self._uri("occupations", label), float(p)) for (label, _), p in zip(rows, probs)]
