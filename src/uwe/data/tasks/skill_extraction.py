"""skill_extraction_{house,tech}: job-ad sentence -> ESCO v1.1.0 skills, rows grouped by sentence."""

from __future__ import annotations

from uwe.data.raw import RawData
from uwe.data.readers.skill_extraction import NO_SKILL_LABELS
from uwe.data.task import RankingTask, build_task

FILE_SPLIT = {"test": "test", "val": "validation"}


def skill_extraction(domain: str):
    def build(raw: RawData, split: str) -> RankingTask:
        rows = raw.annotations(domain, FILE_SPLIT[split])
        labels = rows["label"].str.strip()
        no_skill = int(labels.isin(NO_SKILL_LABELS).sum())
        keep = ~labels.isin(NO_SKILL_LABELS)
        task = build_task(
            f"skill_extraction_{domain}", split, zip(rows["sentence"][keep], labels[keep]),
            raw.esco_labels("v1.1.0", "skills").values(),
            target_space="esco_v1.1.0_skills",
            dropped={"no_skill_label": no_skill} if no_skill else {},
        )
        # Sentences whose labels were all LABEL NOT PRESENT / UNDERSPECIFIED never reached build_task.
        lost = rows["sentence"].str.strip().nunique() - len(task.queries)
        if lost:
            task.dropped["query_without_label"] = lost
        return task

    return build
