"""Zero-shot tasks on O*NET 29.2 (an ontology UWE never trains on unless ``onet_skill`` is mixed in)."""

from __future__ import annotations

from uwe.data.raw import RawData
from uwe.data.task import RankingTask, build_task


def onet_title_skill_pairs(raw: RawData) -> list[tuple[str, str]]:
    """(occupation title, technology skill example)."""
    titles = raw.onet_titles()
    ts = raw.onet("Technology Skills.txt")
    return [(titles[c], e) for c, e in zip(ts["O*NET-SOC Code"], ts["Example"]) if c in titles]


def onet_job2skill(raw: RawData, split: str) -> RankingTask:
    pairs = onet_title_skill_pairs(raw)
    return build_task(
        "onet_job2skill", split, pairs, [e for _, e in pairs],
        target_space="onet_29.2_tech_skills",
    )


def onet_skill2job(raw: RawData, split: str) -> RankingTask:
    pairs = onet_title_skill_pairs(raw)
    return build_task(
        "onet_skill2job", split, [(e, t) for t, e in pairs], raw.onet_titles().values(),
        target_space="onet_29.2_occupations",
    )


def onet_jobnorm(raw: RawData, split: str) -> RankingTask:
    titles = raw.onet_titles()
    alt = raw.onet("Alternate Titles.txt")
    pairs = [(a, titles[c]) for c, a in zip(alt["O*NET-SOC Code"], alt["Alternate Title"]) if c in titles]
    return build_task(
        "onet_jobnorm", split, pairs, titles.values(),
        target_space="onet_29.2_occupations",
    )
