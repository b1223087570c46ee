"""Where the raw exports live, which files each source needs, and where to get them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from uwe.data.errors import MissingFilesError
from uwe.data.readers.archive import find_member

ENV_VAR = "UWE_DATA_DIR"

ESCO_PAGE = "the ESCO download page https://esco.ec.europa.eu/en/use-esco/download ({version}, CSV, English)"
ONET_PAGE = "the O*NET database page https://www.onetcenter.org/database.html (O*NET 29.2, text format)"


@dataclass(frozen=True)
class Source:
    """One raw source: its files relative to the data root, its version, and where it comes from."""

    name: str
    folder: str
    files: tuple[str, ...]
    version: str
    get_it: str
    in_zip: bool = False  # files may sit inside any zip of ``folder`` (ESCO exports)


def _esco(version: str, kind: str, files: tuple[str, ...], exports: str = "") -> Source:
    """``exports``: which official zip(s) hold ``files`` when it is not the one named ``kind``."""
    return Source(
        name=f"esco_{version}_{kind}",
        folder=f"esco/{version}",
        files=files,
        version=f"ESCO {version}",
        get_it=ESCO_PAGE.format(version=version) + f"; {exports or f'the {kind} zip'} or its extracted folder",
        in_zip=True,
    )


SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        _esco("v1.1.1", "classification", ("occupations_en.csv", "skills_en.csv")),
        _esco("v1.1.1", "relations", ("occupationSkillRelations.csv", "skillSkillRelations.csv")),
        # Hierarchy files only the extra training graphs read: sources of their own, so that no task needs them.
        _esco("v1.1.1", "isco", ("ISCOGroups_en.csv",), "the classification zip"),
        _esco("v1.1.1", "skill_hierarchy", ("skillGroups_en.csv", "broaderRelationsSkillPillar.csv"),
              "the classification zip (skillGroups_en.csv) and the relations zip (broaderRelationsSkillPillar.csv)"),
        _esco("v1.1.0", "classification", ("skills_en.csv",)),
        Source(
            "jobbert_eval",
            "jobbert_eval",
            ("titles.csv", "titles.test.csv"),
            "JobBERT evaluation titles (Decorte et al. 2021)",
            "the Hugging Face dataset TechWolf/JobBERT-evaluation-dataset",
        ),
        Source(
            "skill_extraction",
            "skill_extraction",
            tuple(f"{d}_{s}_annotations.csv" for d in ("house", "tech") for s in ("validation", "test")),
            "skill extraction annotations (Decorte et al. 2022)",
            "the Hugging Face datasets TechWolf/skill-extraction-house and TechWolf/skill-extraction-tech",
        ),
        Source(
            "vacancies",
            "vacancies",
            ("job_skill_val.parquet",),
            "TechWolf vacancy job-to-skill (validation split)",
            "the Hugging Face dataset TechWolf/vacancy-job-to-skill, split validation",
        ),
        Source(
            "onet",
            "onet/29.2",
            ("Occupation Data.txt", "Technology Skills.txt", "Alternate Titles.txt"),
            "O*NET 29.2",
            ONET_PAGE,
        ),
    ]
}


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else $UWE_DATA_DIR, else ./data, else ../shared/data when it exists.

    The fallback keeps a fresh clone beside the shared mirror working with no setting at all; when neither
    folder exists ./data is returned so that the missing-file error points where users put data.
    """
    if root not in (None, ""):
        return Path(root).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    local = Path("data").resolve()
    shared = Path("../shared/data").resolve()
    if not local.exists() and shared.exists():
        return shared
    return local


def locate(root: Path, names: list[str], esco_source: str | None = None) -> dict[str, dict[str, Path]]:
    """Find every file of the named sources under ``root``; ``esco_source`` (``zip``, ``folder`` or None)
    picks between an ESCO zip and its extracted file when both exist (see :func:`find_member`).

    Returns source name -> file name -> path (a CSV itself, or the zip that holds it). Raises
    :class:`MissingFilesError` listing EVERY missing file at once, with where it was looked for and where
    to get it.
    """
    found: dict[str, dict[str, Path]] = {}
    missing: list[tuple[str, str, str]] = []
    for name in names:
        src = SOURCES[name]
        folder = root / src.folder
        found[name] = {}
        for f in src.files:
            path = find_member(folder, f, esco_source) if src.in_zip else (folder / f if (folder / f).is_file() else None)
            if path is None:
                where = f"{folder}/ (any zip or subfolder)" if src.in_zip else str(folder / f)
                missing.append((f"{f} ({src.version})", where, src.get_it))
            else:
                found[name][f] = path
    if missing:
        raise MissingFilesError(missing)
    return found
