"""Read each raw source once per process and derive what several tasks and graphs share."""

from __future__ import annotations

import logging
from functools import cached_property, lru_cache
from pathlib import Path

import pandas as pd

from uwe.data.errors import MissingFilesError
from uwe.data.known_files import allow_unknown_from_env, check_file, unknown_version_error
from uwe.data.readers.esco import (
    read_broader_relations,
    read_concepts,
    read_isco_groups,
    read_occupation_skill_relations,
    read_skill_groups,
    read_skill_skill_relations,
)
from uwe.data.readers.jobbert import read_titles
from uwe.data.readers.onet import read_onet
from uwe.data.readers.skill_extraction import read_annotations
from uwe.data.readers.table import check_columns
from uwe.data.readers.vacancies import read_vacancies, read_vacancy_grades
from uwe.data.root import SOURCES, locate, resolve_root
from uwe.data.splits import class_uniform_split, seeded_split
from uwe.data.text import split_labels
from uwe.files import sha256_of

log = logging.getLogger(__name__)

SEED = 42
SKILLMATCH = "skillmatch"


def read_skillmatch_path(path: Path | None) -> Path:
    """The SkillMatch-1K file, or an error that says how to point the config at it."""
    if path is None or not path.is_file():
        raise MissingFilesError(
            [("SkillMatch-1K CSV (skill_a, skill_b, related)", str(path) if path else "data.skillmatch_path is not set",
              "the SkillMatch-1K authors' release; then set data.skillmatch_path=/path/to/skillmatch.csv")]
        )
    return path


class RawData:
    """The raw exports under one data root, each read lazily and at most once, each checked to be its known
    release (:mod:`uwe.data.known_files`) when first located.

    Every accessor checks that the files it needs exist and raises :class:`MissingFilesError` listing all of
    a source's missing files otherwise.

    Args:
        root: the data root (see :func:`uwe.data.root.resolve_root`).
        skillmatch_path: the SkillMatch-1K CSV (no known release: not checked).
        allow_unknown: read files that are not their known release (also ``UWE_ALLOW_UNKNOWN_DATA=1``), with
            one warning each; they are listed in :attr:`unverified`. Without it such a file is an
            :class:`~uwe.data.known_files.UnknownVersionError`.
        esco_source: ``zip`` or ``folder``: which one is read when an ESCO file is both extracted and in a zip
            (without it that is an error naming both).
    """

    def __init__(self, root: str | Path | None = None, skillmatch_path: str | Path | None = None,
                 allow_unknown: bool = False, esco_source: str | None = None):
        self.root = resolve_root(root)
        self.skillmatch_path = Path(skillmatch_path).expanduser().resolve() if skillmatch_path else None
        self.allow_unknown = bool(allow_unknown) or allow_unknown_from_env()
        self.esco_source = esco_source or None
        self.unverified: dict[str, str] = {}  # "source/file" -> what differs from the known release
        self._paths: dict[str, dict[str, Path]] = {}

    def _locate(self, sources: list[str]) -> None:
        """Find and verify every file of ``sources``; one error lists every file that is not its release."""
        found = locate(self.root, sources, self.esco_source)
        mismatches = [m for s, files in found.items() for f, p in files.items()
                      if (m := check_file(s, f, p, sha256_of(p))) is not None]
        if mismatches and not self.allow_unknown:
            raise unknown_version_error(mismatches)
        for m in mismatches:
            log.warning("UNVERIFIED data (allowed): %s", m.describe())
            self.unverified[f"{m.source}/{m.file}"] = m.describe()
        self._paths.update(found)

    def path(self, source: str, file: str) -> Path:
        if source not in self._paths:
            self._locate([source])
        return self._paths[source][file]

    def require(self, sources: list[str]) -> None:
        """Check every file of ``sources`` at once, so one error lists all that is missing or unknown."""
        todo = [s for s in sources if s not in self._paths and s != SKILLMATCH]
        if todo:
            self._locate(todo)
        if SKILLMATCH in sources:
            self._paths[SKILLMATCH] = {"skillmatch": read_skillmatch_path(self.skillmatch_path)}

    def versions(self, sources: list[str]) -> dict[str, str]:
        """source -> "<version>; <file> sha256:<12 hex>, ..." for result files and cache keys."""
        self.require(sources)
        out = {}
        for s in sources:
            files = sorted(set(self._paths[s].values()))
            digests = ", ".join(f"{p.name} sha256:{sha256_of(p)[:12]}" for p in files)
            unverified = " UNVERIFIED" if any(k.startswith(f"{s}/") for k in self.unverified) else ""
            out[s] = f"{SOURCES[s].version if s in SOURCES else 'SkillMatch-1K'}; {digests}{unverified}"
        return out

    # ESCO ------------------------------------------------------------------------------------------
    @lru_cache(maxsize=None)
    def esco_concepts(self, version: str, kind: str) -> pd.DataFrame:
        """``kind`` is ``occupations`` or ``skills``."""
        name = f"{kind}_en.csv"
        return read_concepts(self.path(f"esco_{version}_classification", name), name)

    def esco_concepts_with(self, kind: str, columns: list[str]) -> pd.DataFrame:
        """The v1.1.1 ``kind`` export, checked to have ``columns`` beyond the ones every task reads."""
        df = self.esco_concepts("v1.1.1", kind)
        name = f"{kind}_en.csv"
        check_columns(df, columns, what=f"{self.path('esco_v1.1.1_classification', name)}:{name}")
        return df

    def esco_labels(self, version: str, kind: str) -> dict[str, str]:
        """URI -> stripped preferred label."""
        df = self.esco_concepts(version, kind)
        return dict(zip(df["conceptUri"], df["preferredLabel"]))

    @cached_property
    def occupation_skill_relations(self) -> pd.DataFrame:
        return read_occupation_skill_relations(self.path("esco_v1.1.1_relations", "occupationSkillRelations.csv"))

    @cached_property
    def skill_skill_relations(self) -> pd.DataFrame:
        return read_skill_skill_relations(self.path("esco_v1.1.1_relations", "skillSkillRelations.csv"))

    @cached_property
    def isco_group_labels(self) -> dict[str, str]:
        """ESCO v1.1.1 ISCO-08 code (e.g. ``"2654"``) -> the group's stripped preferred label."""
        df = read_isco_groups(self.path("esco_v1.1.1_isco", "ISCOGroups_en.csv"))
        return dict(zip(df["code"], df["preferredLabel"]))

    @cached_property
    def skill_group_labels(self) -> dict[str, str]:
        """ESCO v1.1.1 skill group URI -> its stripped preferred label."""
        df = read_skill_groups(self.path("esco_v1.1.1_skill_hierarchy", "skillGroups_en.csv"))
        return dict(zip(df["conceptUri"], df["preferredLabel"]))

    @cached_property
    def skill_broader_relations(self) -> pd.DataFrame:
        name = "broaderRelationsSkillPillar.csv"
        return read_broader_relations(self.path("esco_v1.1.1_skill_hierarchy", name), name)

    @cached_property
    def skill_alias_split(self) -> tuple[dict[str, list[str]], list[str], list[str], list[str]]:
        """(alias -> its skills' preferred labels, val-pool aliases, test aliases, the val 10%).

        The rest of the val pool (90%) is the ``skill_alias`` training graph.
        """
        skills = self.esco_concepts("v1.1.1", "skills")
        classes: dict[str, list[str]] = {}
        for pref, alts in zip(skills["preferredLabel"], skills["altLabels"]):
            for alt in split_labels(alts, exclude=pref):
                classes.setdefault(alt, []).append(pref)
        pool, test = class_uniform_split(list(classes.items()))
        val, _ = seeded_split(pool, 0.1, SEED)
        return classes, pool, test, val

    # Vacancies ------------------------------------------------------------------------------------
    @cached_property
    def vacancies(self) -> pd.DataFrame:
        return read_vacancies(self.path("vacancies", "job_skill_val.parquet"))

    @cached_property
    def vacancy_split(self) -> tuple[list[str], list[str]]:
        """(val titles: 20%, train titles: 80%), stripped, seed 42."""
        titles = [t.strip() for t in self.vacancies["title"] if t.strip()]
        return seeded_split(titles, 0.2, SEED)

    @cached_property
    def vacancy_grades(self) -> pd.DataFrame:
        """(title, skill_name, occurrence, prob) per tagged skill (graded preferences, uwe.train.preferences)."""
        return read_vacancy_grades(self.path("vacancies", "job_skill_val.parquet"))

    def vacancy_pairs(self, titles: list[str]) -> list[tuple[str, str]]:
        """(title, skill name as published) for the given stripped titles."""
        keep = set(titles)
        return [
            (t.strip(), s)
            for t, skills in zip(self.vacancies["title"], self.vacancies["skill_name"])
            if t.strip() in keep
            for s in skills
        ]

    # Other sources ------------------------------------------------------------------------------------
    @lru_cache(maxsize=None)
    def jobbert_titles(self, file: str) -> pd.DataFrame:
        return read_titles(self.path("jobbert_eval", file))

    @lru_cache(maxsize=None)
    def annotations(self, domain: str, split: str) -> pd.DataFrame:
        return read_annotations(self.path("skill_extraction", f"{domain}_{split}_annotations.csv"))

    @lru_cache(maxsize=None)
    def onet(self, file: str) -> pd.DataFrame:
        return read_onet(self.path("onet", file))

    def onet_titles(self) -> dict[str, str]:
        """O*NET-SOC code -> occupation title (stripped)."""
        df = self.onet("Occupation Data.txt")
        return dict(zip(df["O*NET-SOC Code"], df["Title"].str.strip()))
