"""The training graphs of WORKBENCH.md, each a many-to-many edge list built with the tasks' hygiene."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from uwe.data.graph import TrainingGraph, build_graph
from uwe.data.leakage import find_leaks
from uwe.data.raw import SEED, RawData
from uwe.data.skill_templates import template_pairs
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


def _description_sentences(raw: RawData, kind: str) -> list[tuple[str, str]]:
    df = raw.esco_concepts("v1.1.1", kind)
    return [(s, pref) for pref, d in zip(df["preferredLabel"], df["description"]) for s in split_sentences(d)]


def skill_description(raw: RawData) -> list[tuple[str, str]]:
    """Each sentence of an ESCO v1.1.1 skill description <-> the skill's preferred label."""
    return _description_sentences(raw, "skills")


def occupation_description(raw: RawData) -> list[tuple[str, str]]:
    """Each sentence of an ESCO v1.1.1 occupation description <-> the occupation's preferred label."""
    return _description_sentences(raw, "occupations")


def skill_group(raw: RawData) -> list[tuple[str, str]]:
    """The label of each broader concept of an ESCO v1.1.1 skill (a skill group of ``skillGroups_en.csv``, or
    a broader skill) <-> the skill's preferred label, from ``broaderRelationsSkillPillar.csv``.

    The skill is the right node because the sampler draws distinct right nodes and then one neighbour each:
    with all 13,896 skills on the right every skill is drawn, and skills drawn together that share a group
    share its left node, which the many-to-many loss counts as positives for all of them. With the ~2,700
    broader concepts on the right, a skill would only be seen as the one neighbour drawn for its group.
    Rows of groups (broader of a group) are not skills and are left out.
    """
    skills = raw.esco_labels("v1.1.1", "skills")
    broader = {**raw.skill_group_labels, **skills}
    rel = raw.skill_broader_relations
    return [
        (broader[b], skills[c]) for c, b in zip(rel["conceptUri"], rel["broaderUri"]) if c in skills and b in broader
    ]


def occupation_isco(raw: RawData) -> list[tuple[str, str]]:
    """The label of an ESCO v1.1.1 occupation's ISCO-08 unit group (its ``iscoGroup`` code in
    ``ISCOGroups_en.csv``) <-> the occupation's preferred label.

    The occupation is the right node, as in ``occupation_alias``: every occupation is drawn, and occupations of
    one unit group drawn together share its label as a left node.
    """
    occ = raw.esco_concepts_with("occupations", ["iscoGroup"])
    groups = raw.isco_group_labels
    return [(groups[g], pref) for pref, g in zip(occ["preferredLabel"], occ["iscoGroup"].str.strip()) if g in groups]


def skill_hidden(raw: RawData) -> list[tuple[str, str]]:
    """ESCO v1.1.1 skill hidden labels <-> the skill's preferred label, leaving out every hidden label that is
    also some skill's alt label (compared lower-cased): alt labels are the SkillNorm pool (its test and val
    aliases and ``skill_alias``), so this graph shares no alias with skillnorm's test or val split."""
    skills = raw.esco_concepts("v1.1.1", "skills")
    alt = {a.lower() for a in raw.skill_alias_split[0]}
    return [
        (h, pref)
        for pref, hidden in zip(skills["preferredLabel"], skills["hiddenLabels"])
        for h in split_labels(hidden, exclude=pref)
        if h.lower() not in alt
    ]


def skill_template(raw: RawData) -> list[tuple[str, str]]:
    """Template vacancy sentences <-> the preferred label of each ESCO v1.1.1 skill with at most one train
    vacancy title (see :mod:`uwe.data.skill_templates`; degree counts the distinct stripped (title, skill)
    pairs of ``vacancy_skill`` before its test pairs are removed; seed 42)."""
    degree = Counter(s for _, s in {(t.strip(), s.strip()) for t, s in vacancy_skill(raw)})
    return template_pairs(raw.esco_concepts_with("skills", ["skillType"]), degree, SEED)


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
    task is evaluated.

    ``default``: in UWE's mixture (``task_mix=all``). A graph that is neither default nor opt-in is an extra:
    safe to train on with every task evaluated, chosen with ``task_mix=all_plus`` or by name.
    """

    name: str
    pairs: Callable[[RawData], list[tuple[str, str]]]
    sources: tuple[str, ...]
    opt_in: bool = False
    is_test_of: tuple[str, ...] = ()
    default: bool = False

    def __post_init__(self):
        if self.opt_in and self.default:
            raise ValueError(f"graph {self.name}: an opt-in graph is a test set and cannot be a default one")


ESCO = "esco_v1.1.1_classification"
GRAPHS: dict[str, GraphSpec] = {
    g.name: g
    for g in [
        GraphSpec("vacancy_skill", vacancy_skill, ("vacancies",), default=True),
        GraphSpec("occupation_alias", occupation_alias, (ESCO,), default=True),
        GraphSpec("skill_alias", skill_alias, (ESCO,), default=True),
        GraphSpec("skill_description", skill_description, (ESCO,), default=True),
        GraphSpec("occupation_description", occupation_description, (ESCO,)),
        GraphSpec("skill_group", skill_group, (ESCO, "esco_v1.1.1_skill_hierarchy")),
        GraphSpec("occupation_isco", occupation_isco, (ESCO, "esco_v1.1.1_isco")),
        GraphSpec("skill_hidden", skill_hidden, (ESCO,)),
        GraphSpec("skill_template", skill_template, (ESCO, "vacancies")),
        GraphSpec("skill_related", skill_related, (ESCO, "esco_v1.1.1_relations"), True, ("skillsim",)),
        GraphSpec("onet_skill", onet_skill, ("onet",), True, ("onet_job2skill", "onet_skill2job", "onet_jobnorm")),
    ]
}


DEFAULT_GRAPHS = [n for n, g in GRAPHS.items() if g.default]
EXTRA_GRAPHS = [n for n, g in GRAPHS.items() if not g.default and not g.opt_in]


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
