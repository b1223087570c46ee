"""A job ad -> the ESCO skills it asks for and the occupations it is, each with a calibrated probability
and the sentences that say so.

The ad is checked (:func:`uwe.extract.checks.check_ad`) and split into sentences
(:func:`uwe.extract.segment.segment_ad`); every sentence but a heading or a list's introduction
(:func:`uwe.extract.segment.is_heading`: "Requirements:" is context, it asks for nothing) and its clauses rank
the ESCO skill space with the model's head (:func:`uwe.extract.candidates.rank_sentences`), the title line by its
core (:func:`uwe.extract.segment.title_core`: "(night shifts)" says how the job is done, not what it asks for); a
skill is present in a sentence when it is among the sentence's first ``max_per_sentence`` and its calibrated
probability reaches the threshold fitted on validation (:mod:`uwe.extract.fit`). A skill's probability in the ad
is its best sentence's; its evidence is every sentence where it is present, best first. The title (given, or the
first line when it reads as one) ranks the ESCO occupations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from uwe.extract.checks import AdError, check_ad
from uwe.extract.annotations import esco_uris
from uwe.extract.candidates import SKILL_SPACE, rank_sentences
from uwe.extract.fit import OCCUPATION_CANDIDATES, OCCUPATION_SPACE
from uwe.extract.segment import Segment, is_heading, segment_ad, title_core
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
        check_options(min_prob, top)
        ad = _prepare(text, title, any_language)
        return self._extract([ad], min_prob, top)[0]

    def extract_many(self, texts: list, titles: list | None = None, min_prob: float | None = None,
                     top: int | None = None, any_language: bool = False) -> list[Extraction | AdError]:
        """:meth:`extract` of every ad in ``texts`` (``titles[i]``: ad i's title, or None), with the sentences
        of all the ads ranked in one encoder pass, so batches are full and pad little across ads. Each result
        equals ``extract(texts[i], titles[i])`` up to float32 rounding of the batch (about 1e-6); an ad that
        ``extract`` refuses gets the :class:`AdError` that says why instead, and the others go on.
        """
        check_options(min_prob, top)
        titles = [None] * len(texts) if titles is None else list(titles)
        if len(titles) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(titles)} titles")
        prepared: list[_Ad | AdError] = []
        for text, title in zip(texts, titles):
            try:
                prepared.append(_prepare(text, title, any_language))
            except AdError as err:
                prepared.append(err)
        found = iter(self._extract([ad for ad in prepared if isinstance(ad, _Ad)], min_prob, top))
        return [ad if isinstance(ad, AdError) else next(found) for ad in prepared]

    def _extract(self, ads: list["_Ad"], min_prob: float | None, top: int | None) -> list[Extraction]:
        if not ads:
            return []
        cal = self.calibration  # only now: a bad ad is refused before the model is calibrated
        threshold = cal.threshold if min_prob is None else min_prob
        scored = [scored_segments(ad) for ad in ads]
        k = min(cal.max_per_sentence, self._size(SKILL_SPACE))
        texts = [text for segments in scored for _, text in segments]
        ranked = iter(rank_sentences(self.ranker, texts, k) if texts else [])
        occupations = self._occupations([ad.title for ad in ads])
        out = []
        for ad, segments, found_occupations in zip(ads, scored, occupations):
            skills: dict[str, list[Evidence]] = {}
            for segment, _ in segments:
                labels, scores = zip(*next(ranked))
                for label, prob in zip(labels, cal.skills(list(scores))):
                    if prob >= threshold:
                        skills.setdefault(label, []).append(
                            Evidence(segment.text, segment.start, segment.end, float(prob)))
            found = sorted((FoundSkill(label, self._uri("skills", label), max(e.probability for e in evidence),
                                       sorted(evidence, key=lambda e: -e.probability))
                            for label, evidence in skills.items()), key=lambda s: (-s.probability, s.label))
            out.append(Extraction(found[:top] if top else found, found_occupations, ad.title, ad.title_source,
                                  len(ad.segments), threshold, self.ranker.name,
                                  {"max_per_sentence": cal.max_per_sentence, "threshold": cal.threshold,
                                   "fitted_at": cal.record.get("fitted_at")}))
        return out

    def _size(self, space: str) -> int:
        return len(self.ranker.space(space).labels)

    def _occupations(self, titles: list[str | None]) -> list[list[FoundOccupation]]:
        """Each title's best occupations (none for a None title), every title ranked in one pass."""
        given = [title for title in titles if title is not None]
        if not given:
            return [[] for _ in titles]
        ranked = iter(self.ranker.rank(given, OCCUPATION_SPACE,
                                       k=min(OCCUPATION_CANDIDATES, self._size(OCCUPATION_SPACE))))
        out = []
        for title in titles:
            rows = [] if title is None else next(ranked)
            probs = self.calibration.occupations([score for _, score in rows]) if rows else []
            out.append([FoundOccupation(label, self._uri("occupations", label), float(p))
                        for (label, _), p in zip(rows, probs)])
        return out


@dataclass(frozen=True)
class _Ad:
    """An ad that passed its checks: its sentences, its title (None when neither given nor found) and its first
    line when that reads as a title (None otherwise)."""

    segments: list[Segment]
    title: str | None
    title_source: str
    title_line: Segment | None = None


def scored_segments(ad: _Ad) -> list[tuple[Segment, str]]:
    """The sentences of ``ad`` that ask for skills, each with the text that is ranked: a heading or a list's
    introduction ("Requirements:") is context and left out; the title line is ranked by its core, without its
    bracketed asides ("(night shifts)"), and left out when nothing else is in it."""
    out = []
    for segment in ad.segments:
        if is_heading(segment.text):
            continue
        text = title_core(segment.text) if segment is ad.title_line else segment.text
        if text:
            out.append((segment, text))
    return out


def check_options(min_prob: float | None, top: int | None) -> None:
    """ValueError unless ``min_prob`` is None or a probability and ``top`` None or an integer >= 1."""
    if min_prob is not None and (isinstance(min_prob, bool) or not isinstance(min_prob, (int, float))
                                 or not 0.0 <= min_prob <= 1.0):
        raise ValueError(f"min_prob must be a probability in [0, 1], got {min_prob!r}")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ValueError(f"top must be an integer >= 1, got {top!r}")


def _prepare(text: str, title: str | None, any_language: bool) -> _Ad:
    """The checked ad's sentences and title; :class:`AdError` when it cannot be extracted from."""
    text = check_ad(text, any_language)
    if title is not None:
        title = check_ad(title, any_language=True)
    segments = segment_ad(text)
    if not segments:
        raise AdError("the ad has no sentence with a letter or digit; give the text of a job ad")
    found = find_title(segments)
    if title is not None:
        return _Ad(segments, title.strip(), "given", found)
    return _Ad(segments, found.text if found else None, "first line" if found else "none", found)
