"""skillsim: skill -> related skills. The ESCO surrogate here; the real SkillMatch-1K when its file is given."""

from __future__ import annotations

from uwe.data.raw import SEED, RawData
from uwe.data.readers.skillmatch import read_skillmatch
from uwe.data.splits import seeded_split
from uwe.data.task import RankingTask, build_task

SURROGATE = "skillsim_esco: ESCO v1.1.1 skillSkillRelations, NOT SkillMatch-1K"


def related_skill_pairs(raw: RawData) -> list[tuple[str, str]]:
    """(original skill, related skill) preferred labels of ``skillSkillRelations.csv``."""
    skills = raw.esco_labels("v1.1.1", "skills")
    rel = raw.skill_skill_relations
    return [(skills[a], skills[b]) for a, b in zip(rel["originalSkillUri"], rel["relatedSkillUri"]) if a in skills and b in skills]


def skillsim(raw: RawData, split: str) -> RankingTask:
    """Targets = every skill on either side; 10% of the queries (seed 42) validate, 90% test."""
    pairs = related_skill_pairs(raw)
    val_queries, test_queries = seeded_split([a for a, _ in pairs], 0.1, SEED)
    keep = set(test_queries if split == "test" else val_queries)
    return build_task(
        "skillsim", split, [p for p in pairs if p[0] in keep], [x for p in pairs for x in p],
        target_space="skillsim_esco_skills", surrogate=SURROGATE,
    )


def skillmatch(raw: RawData, split: str) -> RankingTask:
    """Real SkillMatch-1K: query skill_a, label skill_b, targets both columns; 10% of pairs val (seed 42)."""
    df = read_skillmatch(raw.skillmatch_path)
    pairs = [f"{a.strip()}\t{b.strip()}" for a, b in zip(df["skill_a"], df["skill_b"])]
    val, test = seeded_split(pairs, 0.1, SEED)
    chosen = [tuple(p.split("\t")) for p in (test if split == "test" else val)]
    return build_task(
        "skillmatch", split, chosen, [*df["skill_a"], *df["skill_b"]],
        target_space="skillmatch_skills",
    )
