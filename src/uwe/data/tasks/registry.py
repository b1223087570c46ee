"""Every task of WorkBench-offline: its builder, splits, source files and group for the macro average."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from uwe.data.raw import RawData
from uwe.data.task import RankingTask
from uwe.data.tasks.esco_relations import job2skill, skill2job
from uwe.data.tasks.jobnorm import jobnorm
from uwe.data.tasks.onet import onet_job2skill, onet_jobnorm, onet_skill2job
from uwe.data.tasks.skill_extraction import skill_extraction
from uwe.data.tasks.skillnorm import skillnorm
from uwe.data.tasks.skillsim import skillmatch, skillsim

ESCO = ("esco_v1.1.1_classification",)
ESCO_REL = (*ESCO, "esco_v1.1.1_relations")
VACANCY = (*ESCO, "vacancies")
ONET = ("onet",)


def both(sources: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {"test": sources, "val": sources}


@dataclass(frozen=True)
class TaskSpec:
    """``group``: the WorkBench task the macro averages over (house and tech form ``skill_extraction``);
    None for tasks reported apart (O*NET zero-shot, SkillMatch-1K)."""

    name: str
    build: Callable[[RawData, str], RankingTask]
    sources: dict[str, tuple[str, ...]]  # split -> the raw sources it reads
    group: str | None

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.sources)


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        TaskSpec("job2skill", job2skill, {"test": ESCO_REL, "val": VACANCY}, "job2skill"),
        TaskSpec("skill2job", skill2job, {"test": ESCO_REL, "val": VACANCY}, "skill2job"),
        TaskSpec("jobnorm", jobnorm, both((*ESCO, "jobbert_eval")), "jobnorm"),
        *(
            TaskSpec(f"skill_extraction_{d}", skill_extraction(d),
                     both(("esco_v1.1.0_classification", "skill_extraction")), "skill_extraction")
            for d in ("house", "tech")
        ),
        TaskSpec("skillnorm", skillnorm, both(ESCO), "skillnorm"),
        TaskSpec("skillsim", skillsim, both(ESCO_REL), "skillsim"),
        TaskSpec("onet_job2skill", onet_job2skill, {"test": ONET}, None),
        TaskSpec("onet_skill2job", onet_skill2job, {"test": ONET}, None),
        TaskSpec("onet_jobnorm", onet_jobnorm, {"test": ONET}, None),
        TaskSpec("skillmatch", skillmatch, both(("skillmatch",)), None),
    ]
}

WORKBENCH_TASKS = [n for n, t in TASKS.items() if t.group is not None]
ZERO_SHOT_TASKS = [n for n in TASKS if n.startswith("onet_")]
