"""skillnorm: ESCO skill alternative label -> its skill(s), class-uniform split of WorkBench."""

from __future__ import annotations

from uwe.data.raw import RawData
from uwe.data.task import RankingTask, build_task


def skillnorm(raw: RawData, split: str) -> RankingTask:
    classes, _, test, val = raw.skill_alias_split
    aliases = test if split == "test" else val
    return build_task(
        "skillnorm", split, ((a, s) for a in aliases for s in classes[a]),
        raw.esco_labels("v1.1.1", "skills").values(),
        target_space="esco_v1.1.1_skills",
    )
