"""jobnorm: vacancy title -> ESCO v1.1.1 occupation, labelled by ``conceptUri``."""

from __future__ import annotations

from uwe.data.raw import RawData
from uwe.data.task import RankingTask, build_task

FILES = {"test": "titles.test.csv", "val": "titles.csv"}


def jobnorm(raw: RawData, split: str) -> RankingTask:
    occ = raw.esco_labels("v1.1.1", "occupations")
    titles = raw.jobbert_titles(FILES[split])
    uris = titles["uri"].str.strip()
    unmapped = int((~uris.isin(occ)).sum())
    pairs = [(t, occ[u]) for t, u in zip(titles["title"], uris) if u in occ]
    return build_task(
        "jobnorm", split, pairs, occ.values(),
        target_space="esco_v1.1.1_occupations",
        dropped={"uri_not_in_esco": unmapped} if unmapped else {},
    )
