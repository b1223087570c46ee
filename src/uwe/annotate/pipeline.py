"""``uwe annotate INPUT --out DIR``: every row of a dataset annotated into Parquet parts, on Ray Data.

The driver scans INPUT (:mod:`uwe.annotate.inputs`: sha256, ids, blocks), loads the model once to name the
run (checksums, calibration) and to fill the caches the workers read (the calibration, the skill and
occupation spaces, the ONNX file), and lists the blocks whose part is missing or stale. Ray Data then runs
``from_items(blocks) -> map_batches(PartAnnotator, concurrency=workers)``: each actor loads the model once and
turns a block into a part (read, :func:`uwe.annotate.batch.annotate_frame`, written whole). Ray Data's own
``write_parquet`` is not used: it names files after its tasks and writes them in place, so a killed run leaves
torn files and a rerun cannot tell what is done; a part per block, named after its input and written whole
with its key in the footer, is what makes a rerun annotate only what is missing (:mod:`uwe.annotate.parts`).

``--watch SECONDS`` scans INPUT again every SECONDS and annotates new or changed files with the same actors,
kept between polls (a Ray Data pass per poll would start its pool and load the model again for each file);
SIGTERM lets the parts in flight finish, writes the manifest and stops.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.fs as pafs
from tqdm.auto import tqdm

from uwe.annotate import inputs, manifest
from uwe.annotate.batch import Annotator
from uwe.annotate.inputs import InputFile, Unit
from uwe.annotate.options import AnnotateOptions, ModelSpec
from uwe.annotate.parts import existing_parts, remove_torn, write_part
from uwe.annotate.storage import filesystem, input_format, list_inputs
from uwe.errors import UserError

RAY_PIN = "ray[data]==2.60.0"
RAY_HINT = (f'uwe annotate runs on Ray Data, which is not installed: pip install -e ".[scale]" '
            f'(or pip install "{RAY_PIN}")')
# A block of this many rows is one output part (a Parquet file of a few MB for ads).
PART_ROWS = 10_000
# The manifest is rewritten at most this often while parts complete, and always at the end.
MANIFEST_EVERY_S = 2.0


def require_ray() -> None:
    """A UserError saying how to install Ray Data when it is missing."""
    try:
        import ray.data  # noqa: F401
    except ImportError:
        raise UserError(RAY_HINT) from None


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports KiB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


class PartAnnotator:
    """A Ray actor: loads the model once, then turns blocks of input rows into output parts."""

    def __init__(self, spec: ModelSpec, options: AnnotateOptions, calibration, out_uri: str, input_uri: str):
        self.annotator = Annotator(spec, options, calibration)
        self.options = options
        self.out_fs, self.out = filesystem(out_uri)
        self.in_fs, _ = filesystem(input_uri)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([self.annotate(Unit.from_json(text)) for text in batch["unit"]])

    def annotate(self, unit: Unit) -> dict:
        """The unit's part, written; a summary row (``reason`` says why a file could not be read)."""
        start = time.perf_counter()
        try:
            frame = inputs.read_unit(self.in_fs, unit, self.options)
        except Exception as err:  # any reader's failure names the file; the other files go on
            return {"part": unit.part, "input": unit.name, "reason": f"{type(err).__name__}: {err}", "meta": "",
                    "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}
        out = self.annotator(frame, frozenset(unit.duplicates))
        meta = {"key": unit.key, "input": unit.name, "sha256": unit.sha256, "block": unit.block,
                "start": unit.start, "stop": unit.stop, "rows": len(out),
                "annotated": int(out["error"].isna().sum()), "errors": out.attrs["error_counts"]}
        write_part(self.out_fs, f"{self.out}/{unit.part}", out, self.annotator.schema, meta)
        return {"part": unit.part, "input": unit.name, "reason": "", "meta": json.dumps(meta),
                "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


@dataclass
class Scan:
    """INPUT as scanned: the readable files, their ids' digests, and the files that could not be read."""

    files: list[InputFile] = field(default_factory=list)
    digests: list[np.ndarray] = field(default_factory=list)
    present: list[np.ndarray] = field(default_factory=list)
    bad: dict[str, str] = field(default_factory=dict)


class Planner:
    """Scans INPUT; a file's scan is kept by (size, mtime), so each poll of ``--watch`` reads only new or
    changed files."""

    def __init__(self, input_uri: str, options: AnnotateOptions):
        self.uri, self.options = input_uri, options
        self.fs, self.root = filesystem(input_uri)
        self._seen: dict[str, tuple[tuple, object]] = {}

    def scan(self, allow_empty: bool = False) -> Scan:
        """Every input file, scanned or taken from the last scan; an INPUT with none is a UserError unless
        ``allow_empty`` (``--watch`` waits for files to land)."""
        paths, skipped = list_inputs(self.fs, self.root, self.uri)
        if skipped:
            print(f"uwe annotate: skipped {len(skipped)} file(s) that are not .parquet, .csv or .jsonl, e.g. "
                  f"{skipped[0]}", file=sys.stderr)
        single = self.fs.get_file_info(self.root).type == pafs.FileType.File
        out = Scan()
        for path, info in zip(paths, self.fs.get_file_info(paths)):
            name = os.path.basename(path) if single else os.path.relpath(path, self.root)
            stamp = (info.size, info.mtime_ns)
            if path in self._seen and self._seen[path][0] == stamp:
                result = self._seen[path][1]
            else:
                try:
                    result = inputs.scan(self.fs, path, name, self.options)
                except UserError:
                    raise  # a missing column: the command is wrong, not the file
                except Exception as err:  # an unreadable or damaged file is named; the others are annotated
                    result = f"unreadable as {input_format(path)}: {type(err).__name__}: {err}".splitlines()[0]
                self._seen[path] = (stamp, result)
            if isinstance(result, str):
                out.bad[name] = result
            else:
                out.files.append(result[0])
                out.digests.append(result[1])
                out.present.append(result[2])
        if not paths and not allow_empty:
            raise UserError(f"INPUT {self.uri} holds no .parquet, .csv or .jsonl file")
        return out

    def units(self, scan: Scan, part_rows: int, run_key: str) -> list[Unit]:
        dups = inputs.duplicate_rows(scan.digests, scan.present)
        return [u for f, d in zip(scan.files, dups) for u in inputs.units(f, d, part_rows, run_key)]


class Stop:
    """Set by SIGTERM (in ``--watch``): the parts in flight finish, then the command stops."""

    def __init__(self):
        self.event = threading.Event()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.event.set())


def _start_ray(address: str | None, workers: int | None, threads: int) -> int:
    """Ray connected (``address``, ``RAY_ADDRESS``, or a local one on this machine's cores, no dashboard) and
    the number of workers it can hold; a UserError when ``workers`` asks for more CPUs than it has."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # one bar over rows (tqdm) instead of Ray's per operator
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    fits = cpus // threads
    if workers is None:
        return max(fits, 1)
    if workers > fits:
        raise UserError(f"--workers {workers} with --threads {threads} needs {workers * threads} CPUs; Ray has {cpus}: "
                        f"pass --workers {max(fits, 1)} or fewer")
    return workers


def annotate(input_uri: str, out_uri: str, spec: ModelSpec, options: AnnotateOptions, workers: int | None = None,
             address: str | None = None, overwrite: bool = False, part_rows: int = PART_ROWS,
             watch: float | None = None, progress: bool = True) -> int:
    """Annotate INPUT into ``out_uri``; the exit status: 0, or 1 when a file could not be read (named).

    Raises UserError before any work for a missing column, a manifest of another run (without
    ``overwrite``), an INPUT with no data file, or more workers than CPUs.
    """
    require_ray()
    if part_rows < 1:
        raise UserError(f"--part-rows must be >= 1, got {part_rows}")
    if watch is not None and not watch > 0:
        raise UserError(f"--watch must be a number of seconds > 0, got {watch}")
    planner = Planner(input_uri, options)
    scan = planner.scan(allow_empty=watch is not None)  # a missing column is refused here, before the model loads
    job = Job(planner, out_uri, spec, options, part_rows, progress)
    job.prepare(overwrite)
    job.workers = _start_ray(address, workers, spec.threads)
    job.warm = watch is not None
    if job.warm:
        job.start_workers()
    stop = Stop()
    if watch is not None:
        stop.install()
    while True:
        bad = job.one_pass(scan)
        for name, reason in bad.items():
            print(f"uwe annotate: {name}: not annotated ({reason})", file=sys.stderr)
        if watch is None or stop.event.is_set() or stop.event.wait(watch):
            return 1 if bad else 0
        scan = planner.scan(allow_empty=True)


class Job:
    """One ``uwe annotate`` command: its run (model, calibration, options), its output and its passes."""

    def __init__(self, planner: Planner, out_uri: str, spec: ModelSpec, options: AnnotateOptions, part_rows: int,
                 progress: bool):
        self.planner, self.out_uri, self.spec, self.options = planner, out_uri, spec, options
        self.part_rows, self.progress = part_rows, progress
        self.fs, self.out = filesystem(out_uri)
        self.workers = 1
        self.warm = False  # --watch: keep the workers between polls
        self._pool = None

    def prepare(self, overwrite: bool) -> None:
        """Load the model once here: name the run, and fill the caches the workers read (the calibration is
        fitted here if needed, never by a worker; the spaces are encoded; the ONNX file is exported). A
        manifest of another run is refused, or with ``overwrite`` its parts are deleted."""
        from uwe.eval.report import code_version
        from uwe.extract import calibration_for
        from uwe.extract.candidates import SKILL_SPACE
        from uwe.extract.fit import OCCUPATION_SPACE

        try:
            old = manifest.read(self.fs, self.out)
        except UserError:
            if not overwrite:
                raise
            old = None  # a damaged manifest is replaced, with every part this command wrote
            for name in existing_parts(self.fs, self.out):
                self.fs.delete_file(f"{self.out}/{name}")
        if not overwrite and old is not None:  # other options are known before the model loads
            manifest.check_same_run(old, {**old["run"], "options": self.options.to_dict()}, self.out_uri)
        remove_torn(self.fs, self.out)
        ranker = self.spec.load()
        self.calibration = calibration_for(ranker)
        for space in (SKILL_SPACE, OCCUPATION_SPACE):
            ranker.space(space)
        self.run = manifest.run_record(ranker, self.calibration, self.spec, self.options)
        if overwrite and old is not None and old["run"] != self.run:
            for name in existing_parts(self.fs, self.out):
                self.fs.delete_file(f"{self.out}/{name}")
            old = None
        manifest.check_same_run(old, self.run, self.out_uri)
        self.key = manifest.run_key(self.run)
        self.code = code_version()
        self.created = old["created_at"] if old else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def one_pass(self, scan: Scan) -> dict[str, str]:
        """Annotate the blocks of ``scan`` whose part is missing or stale, write the manifest; the bad files."""
        units = self.planner.units(scan, self.part_rows, self.key)
        parts = existing_parts(self.fs, self.out)
        todo = [u for u in units if parts.get(u.part, {}).get("key") != u.key]
        current, names = {u.part for u in units}, {f.name for f in scan.files}
        for name, meta in list(parts.items()):  # a changed input's blocks moved: its old parts go
            if meta["input"] in names and name not in current:
                self.fs.delete_file(f"{self.out}/{name}")
                del parts[name]
        bad = dict(scan.bad)
        started = time.perf_counter()
        # seconds: the pass's wall time (workers started, their model loaded); busy_seconds: the workers' time
        # on parts alone, summed (rows / busy_seconds * workers is the rate once they run)
        self.last_pass = {"parts_written": 0, "rows_written": 0, "seconds": 0.0, "busy_seconds": 0.0,
                          "workers": self.workers, "peak_worker_rss_mb": None}
        if todo:
            print(f"uwe annotate: annotating {len(todo)} part(s) ({len(units) - len(todo)} already done) with "
                  f"{self.workers} worker(s)", file=sys.stderr)
            last = time.monotonic()
            with tqdm(total=sum(u.stop - u.start for u in todo), unit="ad", desc="annotate", file=sys.stderr,
                      disable=not self.progress) as bar:
                for row in self._results(todo):
                    if row["reason"]:
                        bad[row["input"]] = row["reason"]
                        continue
                    meta = json.loads(row["meta"])
                    parts[row["part"]] = meta
                    self.last_pass["parts_written"] += 1
                    bar.update(meta["rows"])
                    self.last_pass["rows_written"] += meta["rows"]
                    self.last_pass["busy_seconds"] += row["seconds"]
                    self.last_pass["peak_worker_rss_mb"] = max(self.last_pass["peak_worker_rss_mb"] or 0.0,
                                                               round(row["peak_rss_mb"], 1))
                    if time.monotonic() - last > MANIFEST_EVERY_S:
                        self._write_manifest(scan, parts, bad)
                        last = time.monotonic()
        self.last_pass.update(seconds=round(time.perf_counter() - started, 3),
                              busy_seconds=round(self.last_pass["busy_seconds"], 3))
        totals = self._write_manifest(scan, parts, bad)["totals"]
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(totals["by_kind"].items()))
        print(f"uwe annotate: {self.last_pass['parts_written']} part(s) written, {len(units) - len(todo)} already "
              f"done; "
              f"{totals['annotated']:,} of {totals['rows']:,} rows annotated, {totals['bad_rows']:,} bad"
              f"{f' ({kinds})' if kinds else ''}; {len(bad)} bad file(s); {self.out_uri}/{manifest.FILE}",
              file=sys.stderr)
        return bad

    def _results(self, todo: list[Unit]):
        """Ray Data: a block per unit, mapped by a pool of ``workers`` actors, summaries streamed back. Under
        ``--watch``, the same actors stay up between polls (:meth:`_warm_results`)."""
        import ray

        if self.warm:
            return self._warm_results(todo)
        dataset = ray.data.from_items([{"unit": u.to_json()} for u in todo], override_num_blocks=len(todo))
        with warnings.catch_warnings():
            # max_restarts has no named parameter in Ray 2.60 (pinned); without it Ray logs an error line per
            # run (ray-project/ray#53727: restarted actors may lose their constructor arguments)
            warnings.simplefilter("ignore", DeprecationWarning)
            return dataset.map_batches(
                PartAnnotator, fn_constructor_kwargs={"spec": self.spec, "options": self.options,
                                                      "calibration": self.calibration, "out_uri": self.out_uri,
                                                      "input_uri": self.planner.uri},
                batch_size=1, batch_format="pandas", compute=ray.data.ActorPoolStrategy(size=self.workers),
                num_cpus=self.spec.threads, max_restarts=0).iter_rows()  # a dead worker fails the run; rerun resumes

    def _warm_results(self, todo: list[Unit]):
        """``workers`` PartAnnotator actors started once and kept (Ray's ActorPool): a new file's latency is its
        own annotation, not a pool's start and a model load per poll, as a Ray Data pass per poll would cost."""
        if self._pool is None:
            self.start_workers()
        return self._pool.map_unordered(lambda worker, unit: worker.annotate.remote(unit), todo)

    def start_workers(self) -> None:
        """Start the ``--watch`` actors now, each loading the model, so the first file to land finds them ready."""
        import ray
        from ray.util import ActorPool

        actor = ray.remote(num_cpus=self.spec.threads)(PartAnnotator)
        workers = [actor.remote(self.spec, self.options, self.calibration, self.out_uri, self.planner.uri)
                   for _ in range(self.workers)]
        ray.get([worker.__ray_ready__.remote() for worker in workers])  # their constructors ran: the model is loaded
        self._pool = ActorPool(workers)

    def _write_manifest(self, scan: Scan, parts: dict, bad: dict) -> dict:
        record = manifest.build(self.run, self.planner.uri, scan.files, parts, bad, self.code, self.created,
                                self.last_pass)
        manifest.write(self.fs, self.out, record)
        return record
