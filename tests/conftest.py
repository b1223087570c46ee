"""Shared fixtures: a tiny hand-made data root in the real formats, and the real one when present."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest

# The tiny data roots written below are no known release of the raw files: tests that build from them say so,
# as a user would (uwe.data.known_files); tests of the check itself clear it. The real data is verified anyway.
os.environ["UWE_ALLOW_UNKNOWN_DATA"] = "1"

REAL_ROOT = Path(os.environ.get("UWE_DATA_DIR") or Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()

E = "http://data.europa.eu/esco/"
OCCUPATIONS = pd.DataFrame(
    {
        "conceptType": "Occupation",
        "conceptUri": [E + "occupation/o1", E + "occupation/o2"],
        "iscoGroup": ["2511", "7512"],
        "preferredLabel": ["data scientist ", "baker"],
        "altLabels": ["data analyst\nml engineer\ndata scientist", "pastry baker\nb"],
        "hiddenLabels": ["", "bread maker"],
        "description": ["Analyse data.", "Bake bread."],
    }
)
SKILLS = pd.DataFrame(
    {
        "conceptType": "KnowledgeSkillCompetence",
        "conceptUri": [E + f"skill/s{i}" for i in range(1, 5)],
        "skillType": ["knowledge", "knowledge", "skill/competence", "skill/competence"],
        "preferredLabel": ["python", "statistics", "bake bread", "knead dough"],
        # "stats" is an alias of two skills: it must get both labels.
        "altLabels": ["python programming\npy3", "stats\nstatistical analysis", "bread baking\nstats", "kneading"],
        # "python programming" and "Stats" are also alt labels (the SkillNorm pool), so skill_hidden leaves them out.
        "hiddenLabels": ["pyhton\npython programming", "Stats", "", "dough kneading\nkneading dough"],
        "description": ["Use Python. Write scripts.", "Apply statistics.", "", "Knead dough by hand."],
    }
)
RELATIONS = pd.DataFrame(
    {
        "occupationUri": [E + "occupation/o1", E + "occupation/o1", E + "occupation/o2", E + "occupation/o2", E + "occupation/gone"],
        "relationType": ["essential", "optional", "essential", "optional", "essential"],
        "skillType": "skill/competence",
        "skillUri": [E + "skill/s1", E + "skill/s2", E + "skill/s3", E + "skill/s4", E + "skill/s1"],
    }
)
SKILL_RELATIONS = pd.DataFrame(
    {
        "originalSkillUri": [E + "skill/s1", E + "skill/s3"],
        "originalSkillType": "knowledge",
        "relationType": "optional",
        "relatedSkillType": "knowledge",
        "relatedSkillUri": [E + "skill/s2", E + "skill/s4"],
    }
)

ISCO_GROUPS = pd.DataFrame(
    {
        "conceptType": "ISCOGroup",
        "conceptUri": [E + "isco/C2", E + "isco/C2511", E + "isco/C7512"],
        "code": ["2", "2511", "7512"],
        "preferredLabel": ["Professionals", "Systems analysts ", "Bakers, pastry-cooks and confectionery makers"],
    }
)
SKILL_GROUPS = pd.DataFrame(
    {
        "conceptType": "SkillGroup",
        "conceptUri": [E + "skill/g1", E + "isced-f/0721"],
        "preferredLabel": ["computer programming", "bread baking"],
    }
)
# bake bread's group "bread baking" is also its skillnorm test alias, and knead dough's broader skill bake bread
# is its skillsim test pair: skill_group drops both edges.
BROADER_SKILLS = pd.DataFrame(
    {
        "conceptType": ["KnowledgeSkillCompetence"] * 5 + ["SkillGroup"],
        "conceptUri": [E + f"skill/s{i}" for i in (1, 2, 3, 4, 4)] + [E + "isced-f/0721"],
        "broaderType": ["SkillGroup"] * 3 + ["KnowledgeSkillCompetence", "SkillGroup", "SkillGroup"],
        "broaderUri": [E + u for u in ("skill/g1", "skill/g1", "isced-f/0721", "skill/s3", "isced-f/0721", "skill/g1")],
    }
)


def write_root(root: Path) -> Path:
    """A complete data root: ESCO v1.1.1 classification as a zip, relations as an extracted folder."""
    esco = root / "esco" / "v1.1.1"
    esco.mkdir(parents=True)
    with zipfile.ZipFile(esco / "classification.zip", "w") as zf:
        zf.writestr("occupations_en.csv", OCCUPATIONS.to_csv(index=False))
        zf.writestr("skills_en.csv", SKILLS.to_csv(index=False))
        zf.writestr("ISCOGroups_en.csv", ISCO_GROUPS.to_csv(index=False))
        zf.writestr("skillGroups_en.csv", SKILL_GROUPS.to_csv(index=False))
    (esco / "relations").mkdir()
    RELATIONS.to_csv(esco / "relations" / "occupationSkillRelations.csv", index=False)
    SKILL_RELATIONS.to_csv(esco / "relations" / "skillSkillRelations.csv", index=False)
    BROADER_SKILLS.to_csv(esco / "relations" / "broaderRelationsSkillPillar.csv", index=False)
    old = root / "esco" / "v1.1.0"
    old.mkdir(parents=True)
    with zipfile.ZipFile(old / "esco_v1.1.0.zip", "w") as zf:
        zf.writestr("sub/skills_en.csv", SKILLS.iloc[:3].to_csv(index=False))
    jb = root / "jobbert_eval"
    jb.mkdir()
    titles = pd.DataFrame(
        {
            "vacancyTitle": ["Senior Data Scientist", "Baker", " Baker ", "Unknown"],
            "conceptUri": [E + "occupation/o1", E + "occupation/o2", E + "occupation/o2", E + "occupation/zz"],
        }
    )
    titles.to_csv(jb / "titles.test.csv")
    titles.rename(columns={"vacancyTitle": "text", "conceptUri": "label"}).to_csv(jb / "titles.csv", index=False)
    se = root / "skill_extraction"
    se.mkdir()
    ann = pd.DataFrame(
        {
            "sentence": ["Write Python code .", "Write Python code .", "Bake and knead .", "Be nice .", "Bake and knead ."],
            "span": "x",
            "sub_span": "",
            "label": ["python", "statistics", "bake bread", "UNDERSPECIFIED", "knead dough"],
        }
    )
    for d in ("house", "tech"):
        for s in ("validation", "test"):
            ann.to_csv(se / f"{d}_{s}_annotations.csv", index=False)
    vac = root / "vacancies"
    vac.mkdir()
    pd.DataFrame(
        {
            "title": [f"title {i}" for i in range(10)],
            "skill_name": [["python", "statistics "] if i % 2 else ["bake bread", "old v1.2 skill"] for i in range(10)],
            # graded preferences (uwe.train.preferences): the first skill is named more often or more surely
            "skill_prob_avg": [[0.9, 0.6] if i % 3 else [0.7, 0.65] for i in range(10)],
            "skill_occurrence_pct": [[1.0, 0.5] if i % 2 else [1.0, 1.0] for i in range(10)],
        }
    ).to_parquet(vac / "job_skill_val.parquet")
    onet = root / "onet" / "29.2"
    onet.mkdir(parents=True)
    (onet / "Occupation Data.txt").write_text(
        "O*NET-SOC Code\tTitle\tDescription\r\n11-1\tChief Executives\tRun.\r\n15-2\tData Scientists\tModel.\r\n"
    )
    (onet / "Technology Skills.txt").write_text(
        "O*NET-SOC Code\tExample\tCommodity Code\r\n11-1\tExcel\t1\r\n15-2\tExcel\t1\r\n15-2\tPython\t2\r\n"
    )
    (onet / "Alternate Titles.txt").write_text(
        "O*NET-SOC Code\tAlternate Title\tShort Title\r\n11-1\tCEO\tn/a\r\n15-2\tML Scientist\tn/a\r\n15-2\tCEO\tn/a\r\n"
    )
    return root


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    return write_root(tmp_path / "data")


def require_real_data() -> Path:
    if not (REAL_ROOT / "esco").is_dir():
        # In CI the shared mirror is part of the contract: its absence is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"real data not found at {REAL_ROOT}; CI expects ../shared/data beside the clone")
        pytest.skip(f"real data not found at {REAL_ROOT} (set UWE_DATA_DIR)")
    return REAL_ROOT


@pytest.fixture(scope="session")
def real_catalog(tmp_path_factory):
    """The real data root, built once per test session into a fresh cache (so CI proves the cold path)."""
    from uwe.data.catalog import Catalog

    return Catalog(require_real_data(), cache_dir=tmp_path_factory.mktemp("uwe-cache"))


def damage_member(archive: Path, name: str) -> None:
    """Flip 64 bytes in the middle of ``name``'s stored data: the directory and sizes stay as they were."""
    with zipfile.ZipFile(archive) as zf:
        info = next(i for i in zf.infolist() if i.filename.rsplit("/", 1)[-1] == name)
    data = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2
    for i in range(start, start + min(64, info.compress_size // 4 or 1)):
        data[i] ^= 0xFF
    archive.write_bytes(bytes(data))


@pytest.fixture(scope="session")
def _onnx_exports(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """Where each weights' ONNX files are exported once per test session: weights sha256 -> folder."""
    return tmp_path_factory.mktemp("onnx_exports"), {}


@pytest.fixture(autouse=True)
def shared_onnx_exports(monkeypatch, _onnx_exports):
    """``backend="auto"`` (every ranker's default) exports into each test's own cache folder; the tiny encoder's
    weights are seeded, so its files are exported once per session and copied there (0.5 s saved per ranker).
    Tests of the export itself call ``export_onnx`` imported by name, the real one."""
    import shutil

    from uwe.models import onnx_export
    from uwe.models.encoder import state_sha256
    from uwe.models.onnx_backend import ONNX_FILES

    export = onnx_export.export_onnx
    store, done = _onnx_exports

    def export_once(encoder, folder):
        weights = state_sha256(encoder.model)
        if weights not in done:
            done[weights] = store / weights[:16]
            done[weights].mkdir()
            export(encoder, done[weights])
        for name in ONNX_FILES.values():
            shutil.copyfile(done[weights] / name, Path(folder) / name)
        return {backend: Path(folder) / name for backend, name in ONNX_FILES.items()}

    monkeypatch.setattr(onnx_export, "export_onnx", export_once)
