"""job2skill and skill2job: ESCO occupation <-> skill relations (test), vacancy titles (val)."""

from __future__ import annotations

from uwe.data.errors import DataError
from uwe.data.raw import RawData
from uwe.data.task import RankingTask, build_task

def labelled_relations(raw: RawData) -> tuple[list[tuple[str, str, str]], int]:
    """(occupation label, skill label, relation type) of every relation, essential and optional; and how many rows
    name a URI missing from the classification export (dropped)."""
    occ = raw.esco_labels("v1.1.1", "occupations")
    skills = raw.esco_labels("v1.1.1", "skills")
    rel = raw.occupation_skill_relations
    out, unknown = [], 0
    for o, kind, s in zip(rel["occupationUri"], rel["relationType"], rel["skillUri"]):
        if o in occ and s in skills:
            out.append((occ[o], skills[s], kind))
        else:
            unknown += 1
    return out, unknown


def occupation_skill_pairs(raw: RawData) -> tuple[list[tuple[str, str]], int]:
    """(occupation label, skill label) for essential AND optional relations; and how many rows name a URI
    missing from the classification export (dropped)."""
    relations, unknown = labelled_relations(raw)
    return [(o, s) for o, s, _ in relations], unknown


RELATION_GAINS = {"essential": 2.0, "optional": 1.0}
GRADED_TASKS = ("job2skill", "skill2job")  # test splits: ESCO grades each relation essential or optional


def relation_gains(raw: RawData) -> dict[tuple[str, str], float]:
    """(occupation label, skill label), stripped -> gain of the relation: essential 2, optional 1 (a pair listed
    with both types keeps 2). A relation type outside these two is an error naming it."""
    out: dict[tuple[str, str], float] = {}
    for o, s, kind in labelled_relations(raw)[0]:
        if kind not in RELATION_GAINS:
            raise DataError(f"occupationSkillRelations.csv: relationType {kind!r} is neither essential nor "
                            "optional; is this the official ESCO v1.1.1 relations export?")
        key = (o.strip(), s.strip())
        out[key] = max(out.get(key, 0.0), RELATION_GAINS[kind])
    return out


def task_gains(task: RankingTask, gains: dict[tuple[str, str], float]) -> list[list[float]]:
    """Per query of a job2skill or skill2job test task, the gain of each label (aligned with ``task.labels``)."""
    if task.name not in GRADED_TASKS or task.split != "test":
        raise ValueError(f"{task.key} has no graded relevance; only the test splits of {', '.join(GRADED_TASKS)}")
    occupation_first = task.name == "job2skill"
    return [[gains[(q, task.targets[j]) if occupation_first else (task.targets[j], q)] for j in labels]
            for q, labels in zip(task.queries, task.labels)]


def _vacancy_val_pairs(raw: RawData) -> list[tuple[str, str]]:
    """(val title, skill) with the ESCO v1.2.0 skill names kept as published: they map to v1.1.1 only by
    exact preferred label (WORKBENCH.md: 9,820 of 10,137 distinct labels map)."""
    val_titles, _ = raw.vacancy_split
    return raw.vacancy_pairs(val_titles)


def _exact(pairs: list[tuple[str, str]], space: set[str], label_side: int) -> tuple[list[tuple[str, str]], int]:
    """Keep pairs whose label (as published, unstripped) is exactly a target; count the others."""
    kept = [p for p in pairs if p[label_side] in space]
    return kept, len(pairs) - len(kept)


def job2skill(raw: RawData, split: str) -> RankingTask:
    skills = list(raw.esco_labels("v1.1.1", "skills").values())
    if split == "test":
        pairs, unknown = occupation_skill_pairs(raw)
    else:
        pairs, unknown = _exact(_vacancy_val_pairs(raw), set(skills), 1)
    return build_task(
        "job2skill", split, pairs, skills, target_space="esco_v1.1.1_skills",
        dropped={"unmapped_label": unknown} if unknown else {},
    )


def skill2job(raw: RawData, split: str) -> RankingTask:
    if split == "test":
        pairs, unknown = occupation_skill_pairs(raw)
        targets = list(raw.esco_labels("v1.1.1", "occupations").values())
        space = "esco_v1.1.1_occupations"
    else:
        skills = set(raw.esco_labels("v1.1.1", "skills").values())
        pairs, unknown = _exact(_vacancy_val_pairs(raw), skills, 1)
        targets = [t for t, _ in pairs]
        space = "vacancy_val_titles"
    return build_task(
        "skill2job", split, [(s, o) for o, s in pairs], targets, target_space=space,
        dropped={"unmapped_label": unknown} if unknown else {},
    )
