"""Vacancy-style sentences, from templates (no LLM), for the skills that the vacancy graph rarely shows.

About 6,300 of ESCO's 13,896 skills have at most one vacancy title in ``vacancy_skill``, so job2skill and
skill_extraction training barely sees a sentence that asks for them. Each such skill gets one sentence built
from its preferred label and, when it has a description, one from the description's first sentence.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from uwe.data.text import split_sentences

RARE_DEGREE = 1  # a skill with at most this many vacancy titles gets template sentences

# ESCO labels of skill/competence concepts are verb phrases ("manage musical staff"); labels of knowledge
# concepts (and of the few without a skillType) are noun phrases ("unseen translation").
LABEL_TEMPLATES = {
    "skill/competence": (
        "You will {label}.",
        "The role requires the ability to {label}.",
        "Candidates must be able to {label}.",
        "Being able to {label} is an advantage.",
    ),
    "knowledge": (
        "Knowledge of {label} is required.",
        "Experience with {label} is required.",
        "Familiarity with {label} is a plus.",
        "You have a good understanding of {label}.",
    ),
}
# A skill/competence description opens with an imperative ("Assign and manage staff tasks ..."), a knowledge
# description with a definition ("The translation technique whereby ...").
DESCRIPTION_TEMPLATES = {
    "skill/competence": ("In this role you will {sentence}", "Your tasks: {sentence}"),
    "knowledge": ("Required knowledge: {sentence}", "You should know {sentence}"),
}


def lower_first(sentence: str) -> str:
    """Lower-case the first letter to continue a template, unless the first word is an acronym.

    >>> lower_first("Check film reels."), lower_first("ICT tools."), lower_first("A")
    ('check film reels.', 'ICT tools.', 'a')
    """
    word = sentence.split(" ", 1)[0]
    if any(c.isupper() or c.isdigit() for c in word[1:]):
        return sentence
    return sentence[:1].lower() + sentence[1:]


def template_pairs(skills: pd.DataFrame, degree: Mapping[str, int], seed: int) -> list[tuple[str, str]]:
    """(template sentence, preferred label) for every skill of ``skills`` (columns ``preferredLabel``,
    ``skillType``, ``description``) whose ``degree`` (vacancy titles per skill label) is at most
    :data:`RARE_DEGREE`.

    One ``numpy.random.default_rng(seed)`` walks the skills in file order and picks one label template and
    one description template per rare skill, so the graph is the same on every run.

    >>> df = pd.DataFrame({"preferredLabel": ["bake bread", "python"], "skillType": ["skill/competence", "knowledge"],
    ...                    "description": ["Bake loaves. Clean up.", ""]})
    >>> template_pairs(df, {"bake bread": 3}, seed=0)
    [('You have a good understanding of python.', 'python')]
    """
    rng = np.random.default_rng(seed)
    out = []
    for label, kind, description in zip(skills["preferredLabel"], skills["skillType"], skills["description"]):
        if degree.get(label, 0) > RARE_DEGREE:
            continue
        kind = kind if kind in LABEL_TEMPLATES else "knowledge"
        by_label = LABEL_TEMPLATES[kind][rng.integers(len(LABEL_TEMPLATES[kind]))]
        by_description = DESCRIPTION_TEMPLATES[kind][rng.integers(len(DESCRIPTION_TEMPLATES[kind]))]
        out.append((by_label.format(label=label), label))
        first = split_sentences(description)[:1]
        if first:
            out.append((by_description.format(sentence=lower_first(first[0])), label))
    return out
