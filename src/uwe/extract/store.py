"""Where a model's extraction calibration lives, how it is keyed, and how it is refitted.

A calibration is a JSON file (``calibration.json``, never a pickle) that names the model's checksum: the
encoder's :meth:`~uwe.models.encoder.TextEncoder.weights_fingerprint` and the head's class, settings and
weights. It is read from an export folder (``uwe calibrate --model EXPORT`` writes it there) or from the cache
(``<cache>/calibration/<model>-<checksum[:16]>-m<METHOD>.json``, where the first ``extract`` of any other model writes
it). A file whose checksum is not the model's is refused with the command that refits it; where no
validation data can be found, no probability is made up: :class:`NoCalibrationDataError` says so.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from uwe.data.catalog import Catalog
from uwe.data.errors import MissingFilesError
from uwe.errors import UserError
from uwe.extract.calibration import Calibrator
from uwe.files import atomic_write, sha256_of

FORMAT = "uwe-extract-calibration-1"
# The scoring a calibration was fitted for (uwe.extract.candidates); bumped whenever it changes, so that a
# cached calibration of another method is never applied (it is not even found: the version is in its name).
METHOD = 4
FILE = "calibration.json"
REFIT = "uwe calibrate --model MODEL"


class CalibrationError(UserError):
    """A calibration file that cannot be used (unreadable, another model's); the message names it and the fix."""


class NoCalibrationDataError(UserError):
    """No validation data to calibrate on: probabilities are refused rather than invented."""


@dataclass(frozen=True)
class Calibration:
    """What ``extract`` needs: the skill calibrator and decision rule, the occupation calibrator, and the
    record of how they were fitted (model, checksum, data files, validation figures, versions)."""

    skills: Calibrator
    threshold: float
    max_per_sentence: int
    candidates: int
    occupations: Calibrator
    occupation_candidates: int
    record: dict

    @classmethod
    def from_fitted(cls, skills: dict, occupations: dict, record: dict) -> "Calibration":
        return cls(Calibrator.from_dict(skills["calibrator"]), float(skills["threshold"]),
                   int(skills["max_per_sentence"]), int(skills["candidates"]),
                   Calibrator.from_dict(occupations["calibrator"]), int(occupations["candidates"]),
                   {**record, "skills": skills, "occupations": occupations})


def model_checksum(encoder, head) -> str:
    """sha256 hex of what decides the scores: the encoder's fingerprint, the head's class, its plain settings
    (numbers, strings, booleans) and its weights."""
    digest = hashlib.sha256(encoder.weights_fingerprint().encode())
    settings = {k: v for k, v in sorted(vars(head).items()) if not k.startswith("_")
                and isinstance(v, (bool, int, float, str))}
    digest.update(json.dumps([type(head).__name__, settings]).encode())
    for name, tensor in sorted(head.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
    return digest.hexdigest()


def export_file(encoder) -> Path | None:
    """``calibration.json`` in the export folder the encoder was loaded from, if it was loaded from one."""
    from uwe.models.export import is_export

    folder = getattr(encoder, "folder", None)
    return Path(folder) / FILE if folder is not None and is_export(Path(folder)) else None


def cache_file(cache_dir: Path, name: str, checksum: str) -> Path:
    """``<cache_dir>/calibration/<name>-<checksum[:16]>-m<METHOD>.json``, the name made safe for a file name."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(str(name)).name) or "model"
    return Path(cache_dir) / "calibration" / f"{safe}-{checksum[:16]}-m{METHOD}.json"


def load(path: Path, checksum: str) -> Calibration:
    """The calibration in ``path``, checked to be this model's; :class:`CalibrationError` otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
        if data.get("method") != METHOD:
            raise CalibrationError(f"{path} was fitted for extraction method {data.get('method')}, this uwe uses "
                                   f"{METHOD}: refit it with `{REFIT}` or delete it")
        if data["model_checksum"] != checksum:
            raise CalibrationError(f"{path} calibrates another model (checksum {data['model_checksum'][:16]}, this "
                                   f"model's is {checksum[:16]}): refit it with `{REFIT}` or delete it")
        return Calibration.from_fitted(data["skills"], data["occupations"], data["record"])
    except CalibrationError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CalibrationError(f"{path} is not a readable uwe calibration ({err}); refit it with `{REFIT}` or "
                               "delete it") from None


def save(path: Path, calibration: Calibration) -> Path:
    """Write ``calibration`` to ``path`` whole or not at all."""
    record = {k: v for k, v in calibration.record.items() if k not in ("skills", "occupations")}
    data = {"format": FORMAT, "method": METHOD, "model_checksum": record["model_checksum"],
            "skills": calibration.record["skills"], "occupations": calibration.record["occupations"], "record": record}
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1), encoding="utf-8"))


def validation_files(catalog: Catalog) -> dict[str, str]:
    """What a calibration is fitted on: each validation annotation file -> its sha256, and the sources of the
    JobNorm validation titles (raises MissingFilesError when any is missing)."""
    from uwe.extract.annotations import DOMAINS

    files = [catalog.raw.path("skill_extraction", f"{domain}_validation_annotations.csv") for domain in DOMAINS]
    return {**{str(path): sha256_of(path) for path in files}, **catalog.task("jobnorm", "val").sources}


def fit(ranker, checksum: str, data_root=None) -> Calibration:
    """Fit ``ranker``'s calibration on the validation data under ``data_root`` (default: the ranker's)."""
    from uwe.eval.report import code_version, library_versions
    from uwe.extract.fit import fit_occupations, fit_skills

    catalog = ranker.catalog if data_root is None else Catalog(data_root)  # the ranker's: raw files read once
    try:
        files = validation_files(catalog)
        started = time.perf_counter()
        skills, occupations = fit_skills(ranker, catalog), fit_occupations(ranker, catalog)
    except MissingFilesError as err:
        raise NoCalibrationDataError(
            f"cannot calibrate {ranker.name}: its validation data is missing ({err}); probabilities are refused "
            "rather than made up. Put the files under the data root (python -m uwe.data fetch), or pass "
            "data_root= / --data-root") from None
    record = {"model": ranker.name, "model_checksum": checksum, "head": type(ranker.head).__name__,
              "fitted_on": files, "fit_seconds": round(time.perf_counter() - started, 1),
              "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "code": code_version(),
              "libraries": library_versions()}
    return Calibration.from_fitted(skills, occupations, record)


def calibrate(ranker, out: Path | None = None, data_root=None) -> Path:
    """Refit ``ranker``'s calibration and write it to ``out`` (default: the export folder the model came from,
    else the cache); the path written."""
    checksum = model_checksum(ranker.encoder, ranker.head)
    path = out or export_file(ranker.encoder) or cache_file(ranker.cache_dir, ranker.name, checksum)
    return save(Path(path), fit(ranker, checksum, data_root))


def calibration_for(ranker) -> Calibration:
    """``ranker``'s calibration: the export folder's file, else the cache's, else fitted now and cached."""
    checksum = model_checksum(ranker.encoder, ranker.head)
    beside = export_file(ranker.encoder)
    if beside is not None and beside.is_file():
        return load(beside, checksum)
    cached = cache_file(ranker.cache_dir, ranker.name, checksum)
    if cached.is_file():
        return load(cached, checksum)
    calibration = fit(ranker, checksum)
    save(cached, calibration)
    return calibration
