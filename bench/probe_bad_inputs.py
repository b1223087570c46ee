"""Feed bad inputs and faults to every entry point and classify each outcome.

    python bench/probe_bad_inputs.py                 # every case (a few minutes: eval.py/train.py start Python)
    python bench/probe_bad_inputs.py --only rank_k0 http_k_string eval_chunk0

Entry points: ``uwe`` (its ``main`` in this process, and the console script once), ``python -m uwe.data``
(its ``main``), ``eval.py`` and ``train.py`` (subprocesses, ``experiment=smoke``, a tiny data root) and the HTTP
service (FastAPI's TestClient). Each outcome is one of:

- ``clear``: refused with the user-error exit status 2 (HTTP: a 4xx with a detail) and no traceback; or, for a
  case that must run, it ran and its result is right (e.g. marked UNVERIFIED);
- ``traceback``: a Python traceback (HTTP: a 500), or another non-zero exit status;
- ``silently_wrong``: exit status 0 (HTTP: 200) where the input must be refused, or a wrong/unmarked result;
- ``unsafe``: a side effect that must not happen (a user's file deleted, a pickle payload run);
- ``unbounded``: no answer within the case's time limit.

Prints a table and ``clear N, traceback N, silently_wrong N, unsafe N, unbounded N``; exits 1 unless the last
four are 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.conftest: the tiny data root
SUBPROCESS_TIMEOUT = 180
CLASSES = ("clear", "traceback", "silently_wrong", "unsafe", "unbounded")
ALLOW_ENV = "UWE_ALLOW_UNKNOWN_DATA"
# calibration.json files put in tiny exports: another model's, and one cut short
CALIBRATIONS = {"othercal": json.dumps({"format": "uwe-extract-calibration-1", "method": 3, "model_checksum": "0" * 64,
                                        "skills": {}, "occupations": {}, "record": {}}),
                "badcal": '{"format": "uwe-extract-calibration-1", "skills": {"calib'}


@dataclass
class Outcome:
    rc: int | None  # exit status, or the HTTP status
    out: str = ""
    err: str = ""
    seconds: float = 0.0
    timed_out: bool = False


@dataclass
class Case:
    name: str
    entry: str  # uwe, uwe.data, eval.py, train.py, http
    what: str
    run: Callable[["Env"], Outcome]
    expect: str = "refuse"  # refuse | succeed | exit 1 (ran, and named an input it could not use)
    check: Callable[["Env", Outcome], str | None] | None = None  # a problem -> "silently_wrong: ..." / "unsafe: ..."
    result: str = ""
    note: str = ""


@dataclass
class Env:
    """Shared fixtures, made once: a tiny data root, checkpoints, label files, a service."""

    tmp: Path
    root: Path = field(init=False)
    files: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self):
        from tests.conftest import write_root

        self.root = write_root(self.tmp / "data")
        self.cache = self.tmp / "cache"


# running -----------------------------------------------------------------------------------------------------
def in_process(main: Callable[[list[str]], int], argv: list[str], env: dict[str, str | None] | None = None) -> Outcome:
    """``main(argv)`` with stdout/stderr captured; an exception escaping it is printed as Python would."""
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    for k, v in (env or {}).items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as stop:
                rc = stop.code if isinstance(stop.code, int) else 1
            except BaseException:  # noqa: BLE001 -- a bug: shown as the interpreter shows it
                traceback.print_exc()
                rc = 1
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return Outcome(rc, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def child(args: list[str], env: dict[str, str] | None = None, timeout: float = SUBPROCESS_TIMEOUT) -> Outcome:
    base = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(REPO / "src")}
    base.pop(ALLOW_ENV, None)
    start = time.perf_counter()
    try:
        proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                              env={**base, **(env or {})})
    except subprocess.TimeoutExpired as stop:
        return Outcome(None, str(stop.stdout or ""), str(stop.stderr or ""), timeout, timed_out=True)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def uwe(*argv: str, env=None) -> Callable[[Env], Outcome]:
    def run(e: Env) -> Outcome:
        from uwe.cli import main

        args = [a.format(root=e.root, tmp=e.tmp, cache=e.cache, **{k: str(v) for k, v in e.files.items()}) for a in argv]
        return in_process(main, args, {ALLOW_ENV: None, "UWE_CACHE_DIR": str(e.cache), **(env or {})})

    return run


def uwe_data(*argv: str, env=None) -> Callable[[Env], Outcome]:
    def run(e: Env) -> Outcome:
        from uwe.data.__main__ import main

        args = [a.format(root=e.root, tmp=e.tmp, cache=e.cache, **{k: str(v) for k, v in e.files.items()}) for a in argv]
        return in_process(main, args, {ALLOW_ENV: None, **(env or {})})

    return run


def hydra_script(script: str, *overrides: str, env=None) -> Callable[[Env], Outcome]:
    def run(e: Env) -> Outcome:
        args = [o.format(root=e.root, tmp=e.tmp, cache=e.cache, **{k: str(v) for k, v in e.files.items()})
                for o in overrides]
        base = [f"data.root={e.root}", f"data.cache_dir={e.cache}", f"paths.cache_dir={e.tmp / 'spaces'}",
                f"hydra.run.dir={e.tmp / 'runs' / script / str(time.monotonic_ns())}"]
        if script == "train.py":
            base = ["experiment=smoke", "logger=none", *base]
        else:
            base = ["model=random", *base]  # no encoder to load; a case about the encoder adds model=encoder
        return child([sys.executable, script, *base, *args], env)

    return run


def classify(case: Case, o: Outcome, e: Env) -> tuple[str, str]:
    if o.timed_out:
        return "unbounded", f"no answer within {o.seconds:.0f} s"
    if case.check is not None:
        problem = case.check(e, o)
        if problem:
            return problem.split(":", 1)[0], problem.split(":", 1)[1].strip()
    text = o.err + o.out
    if case.entry == "http":
        if o.rc is not None and o.rc >= 500:
            return "traceback", f"HTTP {o.rc}: {o.err[:100]}"
        if case.expect == "refuse" and o.rc is not None and o.rc < 400:
            return "silently_wrong", f"HTTP {o.rc}: accepted"
        return "clear", f"HTTP {o.rc}: {o.err[:110]}"
    if "Traceback (most recent call last)" in text:
        last = [line for line in o.err.strip().splitlines() if line.strip()][-1:] or [""]
        return "traceback", f"exit {o.rc}: {last[0][:110]}"
    if case.expect == "succeed":
        return ("clear", "ran as it must") if o.rc == 0 else ("traceback", f"exit {o.rc}: {o.err.strip()[-110:]}")
    if case.expect == "exit 1":  # ran, and named the inputs it could not use (uwe annotate's damaged file)
        return ("clear", o.err.strip().splitlines()[-1][:130]) if o.rc == 1 else \
            ("silently_wrong" if o.rc == 0 else "traceback", f"exit {o.rc}: {o.err.strip()[-110:]}")
    if o.rc == 0:
        return "silently_wrong", "exit 0: accepted"
    lines = [line for line in o.err.strip().splitlines() if line.strip()]
    message = lines[-1] if lines else ""
    if message.startswith("Set the environment variable HYDRA_FULL_ERROR"):  # Hydra's own config error
        message = "hydra: " + " / ".join(lines[:-1])
    if o.rc != 2:
        return "traceback", f"exit {o.rc} (not the user-error status 2): {message[:100]}"
    return "clear", message[:130]


# fixtures ------------------------------------------------------------------------------------------------------
def make_checkpoint(path: Path) -> Path:
    import lightning as L

    from uwe.train.module import UWEModule

    module = UWEModule(encoder={"name": "tiny", "max_length": 32}, pooling={"name": "mean"}, head={"name": "cosine"},
                       loss={"name": "infonce"}, graphs={"g": {"alpha": 1.0, "tau": 0.05}},
                       optimizer={"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-4})
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


class Payload:
    """A pickle that, when unpickled, creates a marker file: any cache that unpickles runs it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def prepare(e: Env) -> None:
    f = e.files
    f["labels"] = e.tmp / "labels.txt"
    f["labels"].write_text("python\nstatistics\nbake bread\nknead dough\nsql\n")
    f["dup_labels"] = e.tmp / "dup.txt"
    f["dup_labels"].write_text("caf\u00e9\ncafe\u0301\nsql\n", encoding="utf-8")
    f["zw_labels"] = e.tmp / "zw.txt"
    f["zw_labels"].write_text("sql\n\u200b\u200d\n", encoding="utf-8")
    f["ctrl_labels"] = e.tmp / "ctrl.txt"
    f["ctrl_labels"].write_text("sql\n\x07\x1b\n", encoding="utf-8")
    f["empty_labels"] = e.tmp / "empty.txt"
    f["empty_labels"].write_text("\n  \n")
    f["latin1"] = e.tmp / "latin1.txt"
    f["latin1"].write_bytes("caf\u00e9\n".encode("latin-1"))
    import pandas as pd

    own = e.tmp / "own_pairs"
    own.mkdir()
    for name, text in {"pairs_ok.csv": "query,label\nflorist,arrange flowers\n",
                       "pairs_no_column.csv": "title,label\nflorist,arrange flowers\n",
                       "pairs_empty_cell.csv": "query,label\nflorist,arrange flowers\nflorist,\n",
                       "pairs_no_rows.jsonl": "\n",
                       "pairs_test_pair.csv": "query,label\nflorist,arrange flowers\nbaker,bake bread\n"}.items():
        f[name.split(".")[0]] = own / name
        f[name.split(".")[0]].write_text(text, encoding="utf-8")
    f["pairs_latin1"] = own / "pairs_latin1.csv"
    f["pairs_latin1"].write_bytes("query,label\nflorist,caf\u00e9\n".encode("latin-1"))
    f["pairs_damaged"] = own / "pairs_damaged.parquet"
    pd.DataFrame({"query": ["florist"] * 50, "label": ["arrange flowers"] * 50}).to_parquet(f["pairs_damaged"])
    f["pairs_damaged"].write_bytes(f["pairs_damaged"].read_bytes()[:-40] + b"\0" * 40)
    f["ckpt"] = make_checkpoint(e.tmp / "good.ckpt")
    f["corrupt_ckpt"] = e.tmp / "corrupt.ckpt"
    f["corrupt_ckpt"].write_bytes(f["ckpt"].read_bytes()[:4000])
    f["pickle_ckpt"] = e.tmp / "pickle.ckpt"
    f["pickle_ckpt"].write_bytes(pickle.dumps(Payload(e.tmp / "PWNED-ckpt")))
    f["user_folder"] = e.tmp / "my_project"
    f["user_folder"].mkdir()
    (f["user_folder"] / "notes.txt").write_text("precious")
    f["sibling_tmp"] = e.tmp / "model_out.tmp"
    f["sibling_tmp"].mkdir()
    (f["sibling_tmp"] / "keep.txt").write_text("mine")
    # the tiny root with a second, extracted copy of an ESCO file beside its zip
    f["both_root"] = e.tmp / "both"
    shutil.copytree(e.root, f["both_root"])
    (f["both_root"] / "esco" / "v1.1.1" / "skills_en.csv").write_bytes(
        zipfile.ZipFile(e.root / "esco" / "v1.1.1" / "classification.zip").read("skills_en.csv"))
    f["badzip_root"] = e.tmp / "badzip"
    shutil.copytree(e.root, f["badzip_root"])
    (f["badzip_root"] / "esco" / "v1.1.1" / "classification.zip").write_bytes(b"PK\x03\x04 cut short")
    f["nocol_root"] = e.tmp / "nocol"
    shutil.copytree(e.root, f["nocol_root"])
    (f["nocol_root"] / "jobbert_eval" / "titles.test.csv").write_text("title,something\na,b\n")
    f["trunc_root"] = truncated_real_root(e.tmp / "trunc")
    # the tiny root with its classification zip's skills_en.csv damaged (directory intact, bytes not)
    f["damaged_root"] = e.tmp / "damaged"
    shutil.copytree(e.root, f["damaged_root"])
    from tests.conftest import damage_member

    damage_member(f["damaged_root"] / "esco" / "v1.1.1" / "classification.zip", "skills_en.csv")
    # the tiny root whose vacancy grades are all equal: the occurrence preferences have nothing to prefer
    f["flat_root"] = e.tmp / "flat"
    shutil.copytree(e.root, f["flat_root"])
    import pandas as pd

    vac = pd.read_parquet(f["flat_root"] / "vacancies" / "job_skill_val.parquet")
    vac["skill_occurrence_pct"] = [[1.0] * len(x) for x in vac["skill_name"]]
    vac["skill_prob_avg"] = [[0.5] * len(x) for x in vac["skill_name"]]
    vac.to_parquet(f["flat_root"] / "vacancies" / "job_skill_val.parquet")
    # job ads (uwe extract) and a root without the validation files extraction is calibrated on
    f["ad"] = e.tmp / "ad.txt"
    f["ad"].write_text("Baker\n- You bake bread and knead dough.\n- You write Python code.\n", encoding="utf-8")
    f["blank_ad"] = e.tmp / "blank_ad.txt"
    f["blank_ad"].write_text(" \n\t\n")
    f["binary_ad"] = e.tmp / "ad.pdf"
    f["binary_ad"].write_bytes(b"%PDF-1.7\x00\x01\x02 stream")
    f["huge_ad"] = e.tmp / "huge_ad.txt"
    f["huge_ad"].write_bytes(b"Bake bread. " * 450_000)  # 5.4 MB
    f["german_ad"] = e.tmp / "german_ad.txt"
    f["german_ad"].write_text("Wir suchen einen Entwickler mit Erfahrung in Python und SQL für unser Team in Berlin.",
                              encoding="utf-8")
    # exports whose calibration.json is another model's, or damaged: extract must refuse it and leave it as it was
    from uwe.models.export import export_encoder

    for name, text in CALIBRATIONS.items():
        with contextlib.redirect_stderr(io.StringIO()):
            folder = export_encoder("tiny", e.tmp / name)
        (folder / "calibration.json").write_text(text)
        f[name] = folder
    f["noval_root"] = e.tmp / "noval"
    shutil.copytree(e.root, f["noval_root"])
    for file in (f["noval_root"] / "skill_extraction").glob("*_validation_annotations.csv"):
        file.unlink()
    f["ckpt_sha"] = e.tmp / "good.ckpt.sha256"
    from uwe.files import sha256_of

    f["ckpt_sha"].write_text(sha256_of(f["ckpt"]))
    # uwe annotate: a folder of ads with every kind of bad row and a damaged file; an output folder whose manifest
    # is another run's, and one whose manifest is cut short
    f["ads"] = e.tmp / "ads"
    f["ads"].mkdir()
    pd.DataFrame({"id": ["a1", None, "a1", "a4", "a5", "a6", "a7", "a8"],
                  "text": ["Baker\n- You bake bread.", "Bake bread.", "Knead dough.", "  \n\t", None,
                           "Bake bread. " * 10_000, "Wir suchen einen Bäcker mit Erfahrung für unser Team in Berlin",
                           "Write Python code."]}).to_parquet(f["ads"] / "ads.parquet")
    (f["ads"] / "more.jsonl").write_text('{"id": "j1", "text": 42}\n{"id": "j2", "text": "Knead dough."}\n')
    (f["ads"] / "damaged.parquet").write_bytes(b"PAR1\x00\x01 cut short")
    for name, manifest in (("other_out", json.dumps({"format": "uwe-annotate/1", "created_at": "2026-01-01T00:00:00Z",
                                                     "run": {"model": {"name": "minilm", "checksum": "0" * 64},
                                                             "options": {"min_prob": 0.9}}})),
                           ("cut_out", '{"format": "uwe-annotate/1", "ru')):
        f[name] = e.tmp / name
        f[name].mkdir()
        (f[name] / "_manifest.json").write_text(manifest)


def truncated_real_root(root: Path) -> Path:
    """The real data root (linked) with titles.test.csv cut at a line boundary, as in the issue; else the tiny
    root's file cut the same way (then it is refused as an unknown version all the same)."""
    from tests.conftest import REAL_ROOT, write_root

    if not (REAL_ROOT / "esco").is_dir():
        write_root(root)
        src = root / "jobbert_eval" / "titles.test.csv"
        src.write_bytes(b"".join(src.read_bytes().splitlines(keepends=True)[:2]))
        return root
    root.mkdir()
    for child_ in REAL_ROOT.iterdir():
        if child_.name != "jobbert_eval":
            (root / child_.name).symlink_to(child_)
    (root / "jobbert_eval").mkdir()
    (root / "jobbert_eval" / "titles.csv").symlink_to(REAL_ROOT / "jobbert_eval" / "titles.csv")
    lines = (REAL_ROOT / "jobbert_eval" / "titles.test.csv").read_bytes().splitlines(keepends=True)
    (root / "jobbert_eval" / "titles.test.csv").write_bytes(b"".join(lines[:6867]))
    return root


# checks of side effects and results -----------------------------------------------------------------------------
def user_folder_intact(e: Env, o: Outcome) -> str | None:
    f = e.files["user_folder"]
    if not (f / "notes.txt").is_file() or (f / "notes.txt").read_text() != "precious":
        return "unsafe: the user's folder was changed"
    return None


def sibling_intact(e: Env, o: Outcome) -> str | None:
    keep = e.files["sibling_tmp"] / "keep.txt"
    return None if keep.is_file() else "unsafe: the user's sibling folder <out>.tmp was deleted"


def no_payload(marker: str) -> Callable[[Env, Outcome], str | None]:
    def check(e: Env, o: Outcome) -> str | None:
        return f"unsafe: a pickle payload ran ({marker})" if (e.tmp / marker).exists() else None

    return check


def ckpt_intact(e: Env, o: Outcome) -> str | None:
    """The starting model (init_from) is the user's file: a failed second stage must leave it as it was."""
    from uwe.files import sha256_of

    return None if sha256_of(e.files["ckpt"]) == e.files["ckpt_sha"].read_text() else "unsafe: init_from was changed"


def calibration_intact(name: str) -> Callable[[Env, Outcome], str | None]:
    """A refused calibration file is the user's: extract must leave it as it was."""
    def check(e: Env, o: Outcome) -> str | None:
        kept = (e.files[name] / "calibration.json").read_text()
        return None if kept == CALIBRATIONS[name] else "unsafe: the calibration file was changed"

    return check


def annotate_nothing(name: str) -> Callable[[Env, Outcome], str | None]:
    """uwe annotate refused before any work: its --out folder was not even made."""
    def check(e: Env, o: Outcome) -> str | None:
        return f"silently_wrong: {name} was written before the refusal" if (e.tmp / name).exists() else None

    return check


def manifest_intact(name: str) -> Callable[[Env, Outcome], str | None]:
    def check(e: Env, o: Outcome) -> str | None:
        if sorted(p.name for p in e.files[name].iterdir()) != ["_manifest.json"]:
            return f"unsafe: {name} changed: {sorted(p.name for p in e.files[name].iterdir())}"
        return None

    return check


def annotate_bad_rows(e: Env, o: Outcome) -> str | None:
    """Exit 1 naming damaged.parquet; every bad row has its reason and kind, the three good rows are annotated."""
    import pandas as pd

    out = e.tmp / "ann-bad"
    if o.rc != 1 or "damaged.parquet: not annotated" not in o.err:
        return None  # classify says what went wrong (a traceback, or exit 0 for a damaged file)
    totals = json.loads((out / "_manifest.json").read_text())["totals"]
    want = {"missing id": 1, "duplicate id": 1, "empty": 2, "too long": 1, "not extractable": 1, "not a string": 1}
    rows = pd.concat([pd.read_parquet(p) for p in sorted(out.glob("*.parquet"))])
    if totals["by_kind"] != want or totals["annotated"] != 3 or rows["error"].notna().sum() != 7:
        return f"silently_wrong: bad rows {totals['by_kind']}, {totals['annotated']} annotated (want {want}, 3)"
    return None


def marked_unverified(e: Env, o: Outcome) -> str | None:
    if o.rc == 0 and "UNVERIFIED" not in o.out + o.err:
        return "silently_wrong: results from unknown data are not marked UNVERIFIED"
    return None


def cache_swap(e: Env) -> Outcome:
    """Build the tiny root's tasks, then put one task's cache file under another's name and build again."""
    from uwe.data.__main__ import main

    cache = e.tmp / "swap-cache"
    args = ["--root", str(e.root), "--cache-dir", str(cache), "--allow-unknown", "summary", "--json"]
    first = in_process(main, args)
    tasks = cache / "tasks"
    jobnorm = next(tasks.glob("jobnorm-val-*.safetensors"))
    shutil.copy(next(tasks.glob("skillnorm-val-*.safetensors")), jobnorm)
    again = in_process(main, args)
    again.out = json.dumps({"first": json.loads(first.out)["jobnorm/val"], "again": json.loads(again.out)["jobnorm/val"]})
    return again


def cache_swap_check(e: Env, o: Outcome) -> str | None:
    sizes = json.loads(o.out)
    return None if sizes["first"] == sizes["again"] else f"silently_wrong: jobnorm/val became {sizes['again']}"


def cache_pickle(e: Env) -> Outcome:
    """A pickle payload written over a built task's cache file: it is rebuilt, never unpickled."""
    from uwe.data.__main__ import main

    cache = e.tmp / "pickle-cache"
    args = ["--root", str(e.root), "--cache-dir", str(cache), "--allow-unknown", "summary", "--json"]
    in_process(main, args)
    for entry in (cache / "tasks").glob("*.safetensors"):
        entry.write_bytes(pickle.dumps(Payload(e.tmp / "PWNED-cache")))
    return in_process(main, args)


def space_cache_pickle(e: Env) -> Outcome:
    from uwe.cli import main

    cache = e.tmp / "space-pickle"
    args = ["rank", "sql", "--model", "tiny", "--labels", f"demo={e.files['labels']}", "--space", "demo",
            "--cache-dir", str(cache)]
    in_process(main, args)
    for entry in cache.glob("*.safetensors"):
        entry.write_bytes(pickle.dumps(Payload(e.tmp / "PWNED-space")))
    return in_process(main, args)


def stale_space(e: Env) -> Outcome:
    from uwe.cli import main

    cache, labels = e.tmp / "stale", e.tmp / "stale.txt"
    args = ["rank", "sql", "--model", "tiny", "--labels", f"demo={labels}", "--space", "demo", "--cache-dir", str(cache)]
    labels.write_text("python\nsql\n")
    in_process(main, args)
    labels.write_text("python\nsql\nnursing\n")
    return in_process(main, args)


def export_sibling(e: Env) -> Outcome:
    from uwe.cli import main

    return in_process(main, ["export", str(e.files["ckpt"]), str(e.tmp / "model_out")])


def console_script(e: Env) -> Outcome:
    return child([sys.executable, "-m", "uwe.cli", "rank", "x", "--model", "tiny", "--space", "nope",
                  "--labels", f"demo={e.files['labels']}", "--cache-dir", str(e.tmp / "spaces")])


# HTTP -----------------------------------------------------------------------------------------------------------
_CLIENT = None


def http(body, raw: bytes | None = None, path: str = "/rank", limit_s: float = 10.0) -> Callable[[Env], Outcome]:
    def run(e: Env) -> Outcome:
        global _CLIENT
        if _CLIENT is None:
            from fastapi.testclient import TestClient

            from uwe.ranker import Ranker
            from uwe.serve import create_app

            ranker = Ranker.from_pretrained("tiny", cache_dir=e.tmp / "http-spaces", show_progress=False)
            ranker.add_space("demo", ["python", "statistics", "bake bread", "knead dough", "sql"])
            _CLIENT = TestClient(create_app(ranker, preload=[]), raise_server_exceptions=False)
            _CLIENT.__enter__()
        start = time.perf_counter()
        if raw is not None:
            response = _CLIENT.post(path, content=raw, headers={"content-type": "application/json"})
        else:
            response = _CLIENT.post(path, json=body)
        seconds = time.perf_counter() - start
        detail = response.text.replace("\n", " ")
        return Outcome(response.status_code, "", detail, seconds, timed_out=seconds > limit_s)

    return run


def close_http() -> None:
    if _CLIENT is not None:
        _CLIENT.__exit__(None, None, None)


# the cases ---------------------------------------------------------------------------------------------------------
def cases() -> list[Case]:
    rank = ["rank", "--model", "tiny", "--labels", "demo={labels}", "--space", "demo", "--cache-dir", "{tmp}/spaces"]
    strict_tiny = ["--root", "{root}", "--cache-dir", "{tmp}/c-strict", "summary"]
    extract = ["extract", "--model", "tiny", "--cache-dir", "{tmp}/extract-cache"]
    annotate = ["annotate", "--model", "tiny", "--data-root", "{root}", "--cache-dir", "{tmp}/annotate-cache",
                "--no-progress"]
    ok = {"q": ["sql"], "space": "demo"}
    return [
        # uwe --------------------------------------------------------------------------------------------
        Case("rank_unknown_space", "uwe", "--space nope", uwe("rank", "x", "--model", "tiny", "--space", "nope",
                                                                   "--cache-dir", "{tmp}/spaces")),
        Case("rank_k0", "uwe", "-k 0", uwe(*rank, "sql", "-k", "0")),
        Case("rank_k_text", "uwe", "-k abc", uwe(*rank, "sql", "-k", "abc")),
        Case("rank_k_huge", "uwe", "-k 1e400", uwe(*rank, "sql", "-k", "1e400")),
        Case("rank_k_too_big", "uwe", "-k 99 on a space of 5", uwe(*rank, "sql", "-k", "99")),
        Case("rank_no_text", "uwe", "no text at all", uwe(*rank)),
        Case("rank_blank_text", "uwe", "a blank text", uwe(*rank, "   ")),
        Case("rank_surrogate", "uwe", "a text with a lone surrogate", uwe(*rank, "caf\udce9")),
        Case("rank_missing_input", "uwe", "--input of a missing file", uwe(*rank, "--input", "{tmp}/nope.txt")),
        Case("rank_latin1_input", "uwe", "--input not UTF-8", uwe(*rank, "--input", "{latin1}")),
        Case("rank_dim_too_wide", "uwe", "--dim 9999 (the model is 32 wide)", uwe(*rank, "sql", "--dim", "9999")),
        Case("rank_layers0", "uwe", "--layers 0", uwe(*rank, "sql", "--layers", "0")),
        Case("export_layers_too_deep", "uwe", "export --layers 9 of a 2-layer model",
             uwe("export", "tiny", "{tmp}/out-view", "--layers", "9")),
        Case("labels_nfc_dup", "uwe", "labels café NFC + NFD", uwe(*rank[:3], "--labels", "demo={dup_labels}",
                                                                    *rank[5:], "sql")),
        Case("labels_zero_width", "uwe", "a zero-width-only label", uwe(*rank[:3], "--labels", "demo={zw_labels}",
                                                                         *rank[5:], "sql")),
        Case("labels_control", "uwe", "a control-character-only label",
             uwe(*rank[:3], "--labels", "demo={ctrl_labels}", *rank[5:], "sql")),
        Case("labels_empty_file", "uwe", "a labels file of blank lines",
             uwe(*rank[:3], "--labels", "demo={empty_labels}", *rank[5:], "sql")),
        Case("labels_bad_syntax", "uwe", "--labels without NAME=", uwe(*rank[:3], "--labels", "{labels}", *rank[5:], "x")),
        Case("labels_builtin_name", "uwe", "--labels esco_skills=FILE",
             uwe(*rank[:3], "--labels", "esco_skills={labels}", *rank[5:], "x")),
        Case("rank_corrupt_ckpt", "uwe", "--model a truncated .ckpt", uwe("rank", "x", "--model", "{corrupt_ckpt}",
                                                                            "--space", "esco_skills")),
        Case("rank_pickle_ckpt", "uwe", "--model a pickle payload .ckpt",
             uwe("rank", "x", "--model", "{pickle_ckpt}", "--space", "esco_skills"), check=no_payload("PWNED-ckpt")),
        Case("rank_missing_model", "uwe", "--model a folder that does not exist",
             uwe("rank", "x", "--model", "{tmp}/no-model/", "--space", "esco_skills", env={"HF_HUB_OFFLINE": "1"})),
        Case("rank_no_data_root", "uwe", "built-in space, no data", uwe("rank", "x", "--model", "tiny", "--space",
                                                                         "esco_skills", "--data-root", "{tmp}/none",
                                                                         "--cache-dir", "{tmp}/spaces")),
        Case("rank_unknown_data", "uwe", "built-in space from unknown raw files",
             uwe("rank", "x", "--model", "tiny", "--space", "esco_skills", "--data-root", "{root}",
                 "--cache-dir", "{tmp}/spaces-strict")),
        Case("rank_stale_space", "uwe", "labels changed under a cached space", stale_space),
        Case("space_cache_pickle", "uwe", "a pickle payload as a space's cache file", space_cache_pickle,
             check=no_payload("PWNED-space")),
        Case("export_corrupt_ckpt", "uwe", "export a truncated .ckpt", uwe("export", "{corrupt_ckpt}", "{tmp}/out1")),
        Case("export_over_user_folder", "uwe", "export --overwrite onto a user's folder",
             uwe("export", "{ckpt}", "{user_folder}", "--overwrite"), check=user_folder_intact),
        Case("export_sibling_tmp", "uwe", "export beside a user's <out>.tmp folder", export_sibling, expect="succeed",
             check=sibling_intact),
        Case("merge_one_model", "uwe", "merge of one model", uwe("merge", "{ckpt}", "--out", "{tmp}/m1")),
        Case("merge_not_a_model", "uwe", "merge of a labels file", uwe("merge", "{ckpt}", "{labels}", "--out", "{tmp}/m2")),
        Case("serve_bad_preload", "uwe", "serve --preload nope", uwe("serve", "--model", "tiny", "--preload", "nope",
                                                                      "--cache-dir", "{tmp}/spaces")),
        Case("uwe_unknown_command", "uwe", "uwe frobnicate", uwe("frobnicate")),
        Case("uwe_console_script", "uwe", "python -m uwe.cli, unknown space", console_script),
        # python -m uwe.data --------------------------------------------------------------------------------
        Case("data_missing_root", "uwe.data", "summary of an empty root",
             uwe_data("--root", "{tmp}/none", "--cache-dir", "{tmp}/c0", "summary")),
        Case("data_unknown_version", "uwe.data", "summary of files that are no known release", uwe_data(*strict_tiny)),
        Case("data_unknown_allowed", "uwe.data", "the same with --allow-unknown",
             uwe_data("--allow-unknown", *strict_tiny), expect="succeed", check=marked_unverified),
        Case("data_zip_and_folder", "uwe.data", "an ESCO file both zipped and extracted",
             uwe_data("--allow-unknown", "--root", "{both_root}", "--cache-dir", "{tmp}/c1", "summary")),
        Case("data_damaged_member", "uwe.data", "an ESCO zip whose skills_en.csv is damaged (bad CRC)",
             uwe_data("--allow-unknown", "--root", "{damaged_root}", "--cache-dir", "{tmp}/c4", "summary")),
        Case("data_bad_zip", "uwe.data", "an ESCO zip cut short",
             uwe_data("--allow-unknown", "--root", "{badzip_root}", "--cache-dir", "{tmp}/c2", "summary")),
        Case("data_missing_column", "uwe.data", "titles.test.csv without its columns",
             uwe_data("--allow-unknown", "--root", "{nocol_root}", "--cache-dir", "{tmp}/c3", "summary")),
        Case("data_bad_esco_source", "uwe.data", "--esco-source both", uwe_data("--esco-source", "both", "summary")),
        Case("data_cache_swapped", "uwe.data", "another task's cache file under this task's name", cache_swap,
             expect="succeed", check=cache_swap_check),
        Case("data_cache_pickle", "uwe.data", "a pickle payload as a task's cache file", cache_pickle,
             expect="succeed", check=no_payload("PWNED-cache")),
        # eval.py ------------------------------------------------------------------------------------------
        Case("eval_unknown_task", "eval.py", "tasks=[jobnrom]", hydra_script("eval.py", "tasks=[jobnrom]")),
        Case("eval_split_foo", "eval.py", "split=foo", hydra_script("eval.py", "split=foo")),
        Case("eval_max_queries_test", "eval.py", "max_queries=5 on test", hydra_script("eval.py", "max_queries=5")),
        Case("eval_chunk0", "eval.py", "chunk=0", hydra_script("eval.py", "chunk=0")),
        Case("eval_max_length", "eval.py", "encoder.max_length=-1",
             hydra_script("eval.py", "model=encoder", "encoder=tiny", "encoder.max_length=-1")),
        Case("eval_tasks_string", "eval.py", "tasks=jobnorm (not a list)", hydra_script("eval.py", "tasks=jobnorm")),
        Case("eval_corrupt_ckpt", "eval.py", "ckpt_path= a truncated .ckpt",
             hydra_script("eval.py", "model=encoder", "ckpt_path={corrupt_ckpt}", "data.allow_unknown_versions=true")),
        Case("eval_missing_ckpt", "eval.py", "ckpt_path= a missing file",
             hydra_script("eval.py", "model=encoder", "ckpt_path={tmp}/x.ckpt")),
        Case("eval_device", "eval.py", "device=cuda:7", hydra_script("eval.py", "device=cuda:7")),
        Case("eval_layers0", "eval.py", "layers=0", hydra_script("eval.py", "model=encoder", "encoder=tiny", "layers=0")),
        Case("eval_dim_too_wide", "eval.py", "dim=9999 of a 32-wide encoder",
             hydra_script("eval.py", "model=encoder", "encoder=tiny", "dim=9999")),
        Case("eval_dim_ckpt", "eval.py", "dim=9999 of a checkpoint (checked when it loads)",
             hydra_script("eval.py", "model=encoder", "ckpt_path={ckpt}", "dim=9999", "tasks=[jobnorm]",
                          "data.allow_unknown_versions=true")),
        Case("eval_view_bm25", "eval.py", "layers=2 with model=bm25", hydra_script("eval.py", "model=bm25", "layers=2")),
        Case("eval_unknown_key", "eval.py", "an unknown key foo=1", hydra_script("eval.py", "foo=1")),
        Case("eval_unknown_option", "eval.py", "encoder=nope",
             hydra_script("eval.py", "model=encoder", "encoder=nope")),
        Case("eval_truncated_titles", "eval.py", "titles.test.csv cut at a line boundary",
             hydra_script("eval.py", "tasks=[jobnorm]", "data.root={trunc_root}")),
        Case("eval_damaged_member", "eval.py", "an ESCO zip whose skills_en.csv is damaged (bad CRC)",
             hydra_script("eval.py", "tasks=[job2skill]", "data.root={damaged_root}", "data.allow_unknown_versions=true")),
        Case("eval_unknown_allowed", "eval.py", "unknown data with data.allow_unknown_versions=true",
             hydra_script("eval.py", "tasks=[jobnorm]", "data.allow_unknown_versions=true"), expect="succeed",
             check=marked_unverified),
        # train.py -----------------------------------------------------------------------------------------
        Case("train_lr_text", "train.py", "optimizer.lr=abc", hydra_script("train.py", "optimizer.lr=abc")),
        Case("train_nodes0", "train.py", "batch.nodes=0", hydra_script("train.py", "batch.nodes=0")),
        Case("train_unknown_mix", "train.py", "task_mix=nope", hydra_script("train.py", "task_mix=nope")),
        Case("train_corrupt_resume", "train.py", "ckpt_path= a truncated .ckpt (resume)",
             hydra_script("train.py", "ckpt_path={corrupt_ckpt}")),
        Case("train_leakage", "train.py", "task_mix=skill_related (a test set)",
             hydra_script("train.py", "task_mix=skill_related", "data.allow_unknown_versions=true")),
        Case("train_no_data", "train.py", "data.root of nothing", hydra_script("train.py", "data.root={tmp}/none")),
        Case("train_damaged_member", "train.py", "an ESCO zip whose skills_en.csv is damaged (bad CRC)",
             hydra_script("train.py", "data.root={damaged_root}", "data.allow_unknown_versions=true")),
        # your own graph from a file (task_mix.graphs.<name>.pairs) and the fraction of a graph ------------------
        *[Case(f"own_graph_{name}", "train.py", what, hydra_script("train.py", "task_mix=none", *overrides))
          for name, what, overrides in [
              ("missing_file", "a pairs file that does not exist", ["+task_mix.graphs.mine.pairs={tmp}/nope.csv"]),
              ("no_column", "a pairs file without a query column", ["+task_mix.graphs.mine.pairs={pairs_no_column}"]),
              ("empty_cell", "a pairs file with an empty label", ["+task_mix.graphs.mine.pairs={pairs_empty_cell}"]),
              ("not_utf8", "a Latin-1 pairs file", ["+task_mix.graphs.mine.pairs={pairs_latin1}"]),
              ("damaged_parquet", "a Parquet file cut short", ["+task_mix.graphs.mine.pairs={pairs_damaged}"]),
              ("no_pairs", "a .jsonl file with no pair", ["+task_mix.graphs.mine.pairs={pairs_no_rows}"]),
              ("builtin_name", "a file graph named vacancy_skill", ["+task_mix.graphs.vacancy_skill.pairs={pairs_ok}"]),
              ("alpha0", "a file graph with alpha 0", ["+task_mix.graphs.mine.pairs={pairs_ok}",
                                                       "+task_mix.graphs.mine.alpha=0"]),
              ("tau_negative", "a file graph with tau -1", ["+task_mix.graphs.mine.pairs={pairs_ok}",
                                                            "+task_mix.graphs.mine.tau=-1"]),
              ("test_pair", "a pairs file holding a test pair (the leakage guard)",
               ["+task_mix.graphs.mine.pairs={pairs_test_pair}", "data.allow_unknown_versions=true"]),
          ]],
        Case("graph_fraction0", "train.py", "task_mix.graphs.vacancy_skill.fraction=0",
             hydra_script("train.py", "task_mix=job2skill", "task_mix.graphs.vacancy_skill.fraction=0")),
        # the second stage (RankPO) and mining -------------------------------------------------------------------
        Case("rankpo_no_init", "train.py", "loss=rankpo without init_from", hydra_script("train.py", "loss=rankpo")),
        Case("rankpo_missing_init", "train.py", "init_from= a missing file",
             hydra_script("train.py", "loss=rankpo", "init_from={tmp}/nope.ckpt")),
        Case("rankpo_corrupt_init", "train.py", "init_from= a truncated .ckpt",
             hydra_script("train.py", "loss=rankpo", "init_from={corrupt_ckpt}", "data.allow_unknown_versions=true")),
        Case("rankpo_not_a_model", "train.py", "init_from= a labels file",
             hydra_script("train.py", "loss=rankpo", "init_from={labels}", "data.allow_unknown_versions=true")),
        Case("rankpo_other_encoder", "train.py", "init_from= a tiny model, encoder=minilm",
             hydra_script("train.py", "loss=rankpo", "init_from={ckpt}", "encoder=minilm",
                          "data.allow_unknown_versions=true"), check=ckpt_intact),
        Case("rankpo_other_head", "train.py", "init_from= a cosine model, head=soft_li",
             hydra_script("train.py", "loss=rankpo", "init_from={ckpt}", "head=soft_li", "pooling=tokens",
                          "data.allow_unknown_versions=true"), check=ckpt_intact),
        Case("rankpo_k_over_space", "train.py", "hard_negatives.k=99999 (more than the space)",
             hydra_script("train.py", "loss=rankpo", "init_from={ckpt}", "preferences=hard_negatives",
                          "preferences.sources.hard_negatives.k=99999", "data.allow_unknown_versions=true"),
             check=ckpt_intact),
        Case("rankpo_no_triples", "train.py", "occurrence preferences from equal grades (no triple)",
             hydra_script("train.py", "loss=rankpo", "init_from={ckpt}", "data.root={flat_root}",
                          "data.allow_unknown_versions=true"), check=ckpt_intact),
        Case("rankpo_unknown_source", "train.py", "an unknown preference source",
             hydra_script("train.py", "loss=rankpo", "init_from={ckpt}", "+preferences.sources.clicks={{}}",
                          "data.allow_unknown_versions=true")),
        Case("rankpo_per_query0", "train.py", "occurrence.per_query=0",
             hydra_script("train.py", "loss=rankpo", "init_from={ckpt}", "preferences.sources.occurrence.per_query=0")),
        Case("rankpo_bad_kind", "train.py", "loss.kind=softmax",
             hydra_script("train.py", "loss=rankpo", "init_from={ckpt}", "loss.kind=softmax",
                          "data.allow_unknown_versions=true")),
        Case("mining_negatives_over_pool", "train.py", "mining.negatives=5 > mining.pool=3",
             hydra_script("train.py", "mining=hard", "mining.negatives=5", "mining.pool=3")),
        # uwe extract / calibrate ----------------------------------------------------------------------------
        Case("extract_blank_ad", "uwe", "an ad of whitespace", uwe(*extract, "{blank_ad}")),
        Case("extract_binary_ad", "uwe", "a binary file (NUL bytes)", uwe(*extract, "{binary_ad}")),
        Case("extract_latin1_ad", "uwe", "an ad not in UTF-8", uwe(*extract, "{latin1}")),
        Case("extract_huge_ad", "uwe", "a 5.4 MB ad", uwe(*extract, "{huge_ad}")),
        Case("extract_german_ad", "uwe", "an ad in German", uwe(*extract, "{german_ad}")),
        Case("extract_missing_file", "uwe", "an ad file that does not exist", uwe(*extract, "{tmp}/nope.txt")),
        Case("extract_min_prob", "uwe", "--min-prob 2", uwe(*extract, "{ad}", "--min-prob", "2")),
        Case("extract_no_val_data", "uwe", "no validation data to calibrate on",
             uwe(*extract, "{ad}", "--data-root", "{noval_root}", env={ALLOW_ENV: "1"})),
        Case("extract_damaged_member", "uwe", "an ESCO zip whose skills_en.csv is damaged (bad CRC)",
             uwe(*extract, "{ad}", "--data-root", "{damaged_root}", env={ALLOW_ENV: "1"})),
        Case("calibrate_no_val_data", "uwe", "uwe calibrate without validation data",
             uwe("calibrate", "--model", "tiny", "--data-root", "{noval_root}", "--cache-dir", "{tmp}/cal",
                 env={ALLOW_ENV: "1"})),
        Case("calibrate_damaged_member", "uwe", "uwe calibrate, an ESCO zip member damaged",
             uwe("calibrate", "--model", "tiny", "--data-root", "{damaged_root}", "--cache-dir", "{tmp}/cal",
                 env={ALLOW_ENV: "1"})),
        Case("extract_other_calibration", "uwe", "an export whose calibration.json is another model's",
             uwe("extract", "{ad}", "--model", "{othercal}", "--data-root", "{root}", env={ALLOW_ENV: "1"}),
             check=calibration_intact("othercal")),
        Case("extract_damaged_calibration", "uwe", "an export whose calibration.json is cut short",
             uwe("extract", "{ad}", "--model", "{badcal}", "--data-root", "{root}", env={ALLOW_ENV: "1"}),
             check=calibration_intact("badcal")),
        Case("extract_ok", "uwe", "a good ad on the tiny root (must run)",
             uwe(*extract, "{ad}", "--data-root", "{root}", "--format", "json", env={ALLOW_ENV: "1"}),
             expect="succeed"),
        # uwe annotate ----------------------------------------------------------------------------------------------
        Case("annotate_missing_column", "uwe", "uwe annotate --text body (no such column)",
             uwe(*annotate, "{ads}", "--out", "{tmp}/ann-col", "--text", "body"), check=annotate_nothing("ann-col")),
        Case("annotate_unknown_option", "uwe", "uwe annotate --wokers 2 (a typo)",
             uwe(*annotate, "{ads}", "--out", "{tmp}/ann-opt", "--wokers", "2"), check=annotate_nothing("ann-opt")),
        Case("annotate_missing_input", "uwe", "uwe annotate of a folder that does not exist",
             uwe(*annotate, "{tmp}/no-ads", "--out", "{tmp}/ann-none"), check=annotate_nothing("ann-none")),
        Case("annotate_other_manifest", "uwe", "uwe annotate into a folder of another run (other options)",
             uwe(*annotate, "{ads}", "--out", "{other_out}"), check=manifest_intact("other_out")),
        Case("annotate_cut_manifest", "uwe", "uwe annotate into a folder whose _manifest.json is cut short",
             uwe(*annotate, "{ads}", "--out", "{cut_out}"), check=manifest_intact("cut_out")),
        Case("annotate_bad_rows_and_file", "uwe", "uwe annotate: a missing, duplicate and 120,000-character row, "
             "blank, null, number and German texts, a damaged Parquet file (must annotate the rest, exit 1)",
             uwe(*annotate, "{ads}", "--out", "{tmp}/ann-bad", "--workers", "1", env={ALLOW_ENV: "1"}),
             expect="exit 1", check=annotate_bad_rows),
        Case("http_extract_blank", "http", "POST /extract an ad of whitespace", http({"text": "  \n "},
                                                                                   path="/extract")),
        Case("http_extract_german", "http", "POST /extract an ad in German",
             http({"text": "Wir suchen einen Entwickler mit Erfahrung in Python und SQL für unser Team"},
                  path="/extract")),
        Case("http_extract_min_prob", "http", 'POST /extract "min_prob": 2', http({"text": "Bake bread.",
                                                                                   "min_prob": 2}, path="/extract")),
        Case("http_extract_top_text", "http", 'POST /extract "top": "3"', http({"text": "Bake bread.", "top": "3"},
                                                                               path="/extract")),
        Case("http_extract_nul", "http", "POST /extract an ad with a NUL character",
             http({"text": "Bake\u0000 bread."}, path="/extract")),
        Case("http_extract_huge", "http", "POST /extract a 5 MB ad",
             http(None, raw=b'{"text": "' + b"a" * (5 << 20) + b'"}', path="/extract", limit_s=5.0)),
        # HTTP --------------------------------------------------------------------------------------------------
        Case("http_k_string", "http", '"k": "3"', http({"texts": ["sql"], "space": "demo", "k": "3"})),
        Case("http_k_true", "http", '"k": true', http({"texts": ["sql"], "space": "demo", "k": True})),
        Case("http_k_inf", "http", '"k": 1e400', http(None, raw=b'{"texts": ["sql"], "space": "demo", "k": 1e400}')),
        Case("http_surrogate", "http", 'a lone surrogate "\\ud800"',
             http(None, raw=b'{"texts": ["caf\\ud800"], "space": "demo", "k": 1}')),
        Case("http_empty_text", "http", "an empty text", http({"texts": [""], "space": "demo"})),
        Case("http_unknown_space", "http", "an unknown space", http({"texts": ["sql"], "space": "nope"})),
        Case("http_unknown_field", "http", "an unknown field", http(ok)),
        Case("http_not_json", "http", "a body that is not JSON", http(None, raw=b"{not json")),
        Case("http_k_too_big", "http", "k over the space size", http({"texts": ["sql"], "space": "demo", "k": 50})),
        Case("http_too_many", "http", "300 texts", http({"texts": ["sql"] * 300, "space": "demo"})),
        Case("http_huge_body", "http", "a 20 MB body", http(None, raw=b'{"texts": ["' + b"a" * (20 << 20) + b'"]}',
                                                             limit_s=5.0)),
    ]


def run(selected: list[str] | None = None, workers: int = 2) -> list[Case]:
    all_cases = cases()
    names = [c.name for c in all_cases]
    if selected:
        unknown = sorted(set(selected) - set(names))
        if unknown:
            raise SystemExit(f"unknown case(s) {unknown}; valid: {', '.join(names)}")
        all_cases = [c for c in all_cases if c.name in selected]
    assert len(set(names)) == len(names), "case names must be distinct"
    with tempfile.TemporaryDirectory(prefix="uwe-probe-") as tmp:
        env = Env(Path(tmp))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            prepare(env)  # Lightning's banners while the checkpoint is made
        children = [c for c in all_cases if c.entry in ("eval.py", "train.py") or c.name == "uwe_console_script"]
        local = [c for c in all_cases if c not in children]
        with ThreadPoolExecutor(workers) as pool:  # the subprocesses run while the in-process cases do
            futures = {c.name: pool.submit(c.run, env) for c in children}
            outcomes = {c.name: c.run(env) for c in local}
            outcomes.update({name: f.result() for name, f in futures.items()})
        close_http()
        for c in all_cases:
            c.result, c.note = classify(c, outcomes[c.name], env)
    return all_cases


def report(done: list[Case]) -> tuple[str, dict[str, int]]:
    counts = {k: sum(c.result == k for c in done) for k in CLASSES}
    rows = ["| # | case | entry | input or fault | outcome | what was seen |", "|---|---|---|---|---|---|"]
    for i, c in enumerate(done, 1):
        rows.append(f"| {i} | {c.name} | {c.entry} | {c.what} | {c.result} | {c.note.replace('|', '/')} |")
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    return "\n".join(rows) + "\n\n" + summary, counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", help="run only these cases (by name)")
    p.add_argument("--workers", type=int, default=2, help="subprocesses at a time (default 2)")
    args = p.parse_args(argv)
    start = time.perf_counter()
    done = run(args.only, args.workers)
    text, counts = report(done)
    print(text)
    print(f"({len(done)} cases in {time.perf_counter() - start:.0f} s)")
    return 0 if all(counts[k] == 0 for k in CLASSES[1:]) else 1


if __name__ == "__main__":
    sys.exit(main())
