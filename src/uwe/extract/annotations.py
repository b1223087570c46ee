"""Gold (sentence, ESCO skill) pairs of the skill-extraction annotations, by concept URI, negatives kept.

The WorkBench ranking task keeps only sentences with a skill; extraction needs the others too: a sentence
annotated ``LABEL NOT PRESENT`` (or ``UNDERSPECIFIED``) only is a negative, where every predicted skill is a
false positive. Gold labels are ESCO v1.1.0 preferred labels; they are compared by concept URI, so a model
ranking ESCO v1.1.1 (or a tool returning v1.2.0 URIs) is scored on the same concepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from uwe.data.raw import RawData
from uwe.data.readers.skill_extraction import NO_SKILL_LABELS
from uwe.data.tasks.skill_extraction import FILE_SPLIT

DOMAINS = ("house", "tech")


@dataclass(frozen=True)
class AnnotatedSentence:
    """A job-ad sentence, the URIs of its gold ESCO skills (empty: it asks for none), and its gold labels that
    are no ESCO v1.1.0 skill (none in the published files; counted in every record that uses them)."""

    text: str
    skills: frozenset[str]
    unknown: tuple[str, ...] = ()


def annotated_sentences(raw: RawData, domain: str, split: str) -> list[AnnotatedSentence]:
    """Every distinct (stripped) sentence of ``{domain}_{split}`` (``split``: ``val`` or ``test``), in file order.

    A gold label that is no ESCO v1.1.0 preferred label cannot be matched by URI: it is kept in the sentence's
    ``unknown`` (as the ranking task drops and counts it), never silently lost.

    Raises:
        MissingFilesError: the annotation file or ESCO v1.1.0's skills are not under the data root.
    """
    rows = raw.annotations(domain, FILE_SPLIT[split])
    uri_of = {label: uri for uri, label in raw.esco_labels("v1.1.0", "skills").items()}
    gold: dict[str, set[str]] = {}
    unknown: dict[str, list[str]] = {}
    for sentence, label in zip(rows["sentence"].str.strip(), rows["label"].str.strip()):
        skills = gold.setdefault(sentence, set())
        if label in NO_SKILL_LABELS:
            continue
        if label in uri_of:
            skills.add(uri_of[label])
        else:
            unknown.setdefault(sentence, []).append(label)
    return [AnnotatedSentence(text, frozenset(skills), tuple(unknown.get(text, ()))) for text, skills in gold.items()
            if text]


def esco_uris(raw: RawData, kind: str = "skills") -> dict[str, str]:
    """ESCO v1.1.1 preferred label -> concept URI of ``kind`` (``skills`` or ``occupations``): the labels the
    built-in spaces rank, back to the concepts they name."""
    return {label: uri for uri, label in raw.esco_labels("v1.1.1", kind).items()}


def count_unknown(sentences: list[AnnotatedSentence]) -> int:
    """Gold labels of ``sentences`` that are no ESCO v1.1.0 skill (not scored)."""
    return sum(len(s.unknown) for s in sentences)
