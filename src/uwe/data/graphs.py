"""The training graphs of WORKBENCH.md, each a many-to-many edge list built with the tasks' hygiene."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from uwe.data.graph import TrainingGraph, build_graph
from uwe.data.leakage import find_leaks
from uwe.data.raw import RawData
from uwe.data.tasks.skillsim import related_skill_pairs
from uwe.data.text import split_labels, split_sentences


def vacancy_skill(raw: RawData) -> list[tuple[str, str]]:
    """The 80% train part of the vacancy titles <-> their skills (every published skill name, stripped:
    a v1.2.0 name missing from v1.1.1 is still a good skill text to learn from)."""
    _, train_titles = raw.vacancy_split
    return raw.vacancy_pairs(train_titles)


def occupation_alias(raw: RawData) -> list[tuple[str, str]]:
    """ESCO v1.1.1 occupation alt and hidden labels <-> the occupation's preferred label."""
    occ = raw.esco_concepts("v1.1.1", "occupations")
    return [
        (alias, pref)
        for pref, alts, hidden in zip(occ["preferredLabel"], occ["altLabels"], occ["hiddenLabels"])
        for alias in split_labels(f"{alts}\n{hidden}", exclude=pref)
    ]


def skill_alias(raw: RawData) -> list[tuple[str, str]]:
    """The 90% of the SkillNorm val pool that does not validate: alias <-> each of its skills."""
    classes, pool, _, val = raw.skill_alias_split
    held_out = set(val)
    return [(a, s) for a in pool if a not in held_out for s in classes[a]]


def skill_description(raw: RawData) -> list[tuple[str, str]]:
    """Each sentence of an ESCO v1.1.1 skill description <-> the skill's preferred label."""
    skills = raw.esco_concepts("v1.1.1", "skills")
    return [(s, pref) for pref, d in zip(skills["preferredLabel"], skills["description"]) for s in split_sentences(d)]


def skill_related(raw: RawData) -> list[tuple[str, str]]:
    """ESCO skill <-> related skill. It IS the skillsim surrogate's test set: opt-in only."""
    return related_skill_pairs(raw)


def onet_skill(raw: RawData) -> list[tuple[str, str]]:
    """O*NET occupation title or alternate title <-> technology skill. Opt-in: O*NET is zero-shot otherwise."""
    titles = raw.onet_titles()
    alt = raw.onet("Alternate Titles.txt")
    names: dict[str, list[str]] = {c: [t] for c, t in titles.items()}
    for c, a in zip(alt["O*NET-SOC Code"], alt["Alternate Title"]):
        if c in names:
            names[c].append(a)
    ts = raw.onet("Technology Skills.txt")
    return [(n, e) for c, e in zip(ts["O*NET-SOC Code"], ts["Example"]) if c in names for n in names[c]]


@dataclass(frozen=True)
class GraphSpec:
    """``is_test_of``: tasks whose test set this graph IS (opt-in graphs). Every other test pair is removed
    from the graph when it is built; these are left to the leakage guard, which refuses the mix while such a
    task is evaluated."""

    name: str
    pairs: Callable[[RawData], list[tuple[str, str]]]
    sources: tuple[str, ...]
    opt_in: bool = False
    is_test_of: tuple[str, ...] = ()


ESCO = "esco_v1.1.1_classification"
GRAPHS: dict[str, GraphSpec] = {
    g.name: g
    for g in [
        GraphSpec("vacancy_skill", vacancy_skill, ("vacancies",)),
        GraphSpec("occupation_alias", occupation_alias, (ESCO,)),
        GraphSpec("skill_alias", skill_alias, (ESCO,)),
        GraphSpec("skill_description", skill_description, (ESCO,)),
        GraphSpec("skill_related", skill_related, (ESCO, "esco_v1.1.1_relations"), True, ("skillsim",)),
        GraphSpec("onet_skill", onet_skill, ("onet",), True, ("onet_job2skill", "onet_skill2job", "onet_jobnorm")),
    ]
}


DEFAULT_GRAPHS = [n for n, g in GRAPHS.items() if not g.opt_in]


def build(raw: RawData, name: str, test_pairs: dict[tuple[str, str], str]) -> TrainingGraph:
    """Build graph ``name`` without the edges that equal a pair of ``test_pairs`` (see ``test_pair_set``),
    counted in ``dropped["equals_test_pair"]``."""
    spec = GRAPHS[name]
    graph = build_graph(name, spec.pairs(raw), sources=raw.versions(list(spec.sources)))
    leaks = {(a, b) for a, b, _ in find_leaks(graph, test_pairs)}
    if not leaks:
        return graph
    kept = build_graph(name, (p for p in graph.pairs() if p not in leaks), sources=graph.sources)
    kept.dropped["equals_test_pair"] = len(leaks)
    return kept
