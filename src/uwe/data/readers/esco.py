"""ESCO CSV export (any version): occupations, skills, their relations and their hierarchies."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from uwe.data.errors import DataError
from uwe.data.readers.archive import open_bytes
from uwe.data.readers.table import read_table

log = logging.getLogger(__name__)

CONCEPT_COLUMNS = ["conceptUri", "preferredLabel", "altLabels", "hiddenLabels", "description"]
OCCUPATION_SKILL_COLUMNS = ["occupationUri", "relationType", "skillUri"]
SKILL_SKILL_COLUMNS = ["originalSkillUri", "relationType", "relatedSkillUri"]
GROUP_COLUMNS = ["conceptUri", "preferredLabel"]
ISCO_COLUMNS = ["code", "preferredLabel"]
BROADER_COLUMNS = ["conceptType", "conceptUri", "broaderType", "broaderUri"]


def _read(path: Path, name: str, required: list[str]) -> pd.DataFrame:
    what = f"{path}:{name}" if path.suffix.lower() == ".zip" else str(path)
    return read_table(open_bytes(path, name), required, what=what)


def read_concepts(path: Path, name: str) -> pd.DataFrame:
    """``occupations_en.csv`` or ``skills_en.csv``: URIs, labels (stripped preferred label) and descriptions.

    A concept with an empty preferred label cannot be a target and is refused, as are duplicate URIs.
    """
    df = _read(path, name, CONCEPT_COLUMNS)
    df["preferredLabel"] = df["preferredLabel"].str.strip()
    empty = df[df["preferredLabel"] == ""]
    if len(empty):
        raise DataError(f"{path}:{name}: {len(empty)} concept(s) without preferredLabel, e.g. {empty['conceptUri'].iloc[0]}")
    dup = df["conceptUri"][df["conceptUri"].duplicated()]
    if len(dup):
        raise DataError(f"{path}:{name}: duplicate conceptUri {dup.iloc[0]!r} ({len(dup)} duplicates)")
    same = df["preferredLabel"][df["preferredLabel"].duplicated()]
    if len(same):
        # Targets are labels, so concepts sharing one become one target; say so rather than hide it.
        log.warning("%s:%s: %d concept(s) share a preferred label with another (e.g. %r); they are one target",
                    path, name, len(same), same.iloc[0])
    return df


def read_occupation_skill_relations(path: Path) -> pd.DataFrame:
    """``occupationSkillRelations.csv``: occupationUri, relationType (essential/optional), skillUri."""
    return _read(path, "occupationSkillRelations.csv", OCCUPATION_SKILL_COLUMNS)


def read_skill_skill_relations(path: Path) -> pd.DataFrame:
    """``skillSkillRelations.csv``: originalSkillUri, relationType, relatedSkillUri."""
    return _read(path, "skillSkillRelations.csv", SKILL_SKILL_COLUMNS)


def read_isco_groups(path: Path) -> pd.DataFrame:
    """``ISCOGroups_en.csv``: ISCO-08 ``code`` (1 to 4 digits) and stripped ``preferredLabel``."""
    df = _read(path, "ISCOGroups_en.csv", ISCO_COLUMNS)
    df["preferredLabel"] = df["preferredLabel"].str.strip()
    return df


def read_skill_groups(path: Path) -> pd.DataFrame:
    """``skillGroups_en.csv``: skill group ``conceptUri`` and stripped ``preferredLabel``."""
    df = _read(path, "skillGroups_en.csv", GROUP_COLUMNS)
    df["preferredLabel"] = df["preferredLabel"].str.strip()
    return df


def read_broader_relations(path: Path, name: str) -> pd.DataFrame:
    """``broaderRelations{Skill,Occ}Pillar.csv``: conceptType, conceptUri -> broaderType, broaderUri."""
    return _read(path, name, BROADER_COLUMNS)
