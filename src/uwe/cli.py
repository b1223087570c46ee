"""The ``uwe`` command: rank texts, extract skills from a job ad, serve a model over HTTP, export a checkpoint,
merge fine-tuned models, evaluate a model on your own ranking task.

    uwe rank "data scientist" --space esco_skills -k 10 [--model minilm] [--input texts.txt] [--format json] [--refresh]
             [--candidates N | --exhaustive] [--layers K] [--dim D]
    uwe serve [--model minilm] --port 8080 [--host 127.0.0.1] [--labels NAME=FILE] [--preload SPACE | --no-preload]
              [--max-batch 64 --max-wait 5 | --no-batching] [--max-body-bytes 1048576] [--refresh] [--layers K] [--dim D]
    uwe export CKPT_OR_MODEL OUT [--onnx] [--overwrite] [--layers K] [--dim D]
    uwe merge CKPT_OR_EXPORT... --out OUT [--method average|task_arithmetic --scale L --base BASE] [--overwrite]
    uwe extract [FILE|-] [--title T] [--min-prob P] [--top N] [--format table|json] [--any-language] [--model minilm]
    uwe calibrate [--model minilm] [--out FILE] [--data-root DIR]
    uwe evaluate --pairs PAIRS [--targets TARGETS] [--model minilm] [--head H] [--format table|json] [--drop-unknown]
                 [--query-column query] [--label-column label]
                 [--out DIR] [--layers K] [--dim D]
    uwe annotate INPUT --out DIR [--id id] [--text text] [--title COL] [--embeddings float16|float32] [--model minilm]
                 [--workers N] [--address ADDR] [--watch SECONDS] [--overwrite] (pip install -e ".[scale]": Ray Data)

``--layers K --dim D`` use the model's first K transformer layers and the first D dimensions of its vectors (a 2D
Matryoshka view, :meth:`uwe.models.encoder.TextEncoder.set_view`); ``uwe export`` writes that smaller model.

A user error (a bad argument, file, checkpoint or text) ends the command with exit status 2 and one line on
stderr, no traceback; ``--debug`` (or ``UWE_DEBUG=1``) shows the traceback. A bug keeps its traceback (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from uwe.errors import UserError, main_guard
from uwe.quiet import quiet_libraries


def _positive_int(value: str) -> int:
    if not re.fullmatch(r"\d+", value) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value!r}")
    return int(value)


def _probability(value: str) -> float:
    try:
        p = float(value)
    except ValueError:
        p = float("nan")
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to 1, got {value!r}")
    return p


def _labels_arg(value: str) -> tuple[str, Path]:
    name, sep, file = value.partition("=")
    if not sep or not name or not file:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE (one label per line), got {value!r}")
    return name, Path(file)


def decode_utf8(data: bytes, where: str, encoding: str = "utf-8") -> str:
    """``data`` as text; a :class:`UserError` naming ``where`` and the first bad byte when it is not UTF-8."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise UserError(f"{where} is not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8") from None


def read_lines(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped; an error if there are none."""
    text = decode_utf8(Path(path).read_bytes(), str(path))
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise UserError(f"{path} has no non-blank line")
    return lines


def _model_args(parser: argparse.ArgumentParser, default_model: str | None) -> None:
    parser.add_argument("--model", default=default_model, required=default_model is None,
                        help="export folder, train.py .ckpt, or encoder name (minilm, mpnet, tiny, HF folder)")
    parser.add_argument("--head", help="head of a zero-shot encoder (default cosine); exports bring their own")
    parser.add_argument("--labels", type=_labels_arg, action="append", default=[], metavar="NAME=FILE",
                        help="add a space NAME from FILE, one label per line (repeatable)")
    parser.add_argument("--cache-dir", help="where spaces are cached (default $UWE_CACHE_DIR or ~/.cache/uwe)")
    parser.add_argument("--data-root", help="data root of the built-in spaces (default as uwe.data)")
    parser.add_argument("--refresh", action="store_true",
                        help="re-encode the spaces used and replace their cache files (e.g. after a stale-cache error)")
    parser.add_argument("--allow-unknown", action="store_true",
                        help="build the built-in spaces from raw files that are not the known release "
                             "(as UWE_ALLOW_UNKNOWN_DATA=1)")


def _view_args(parser: argparse.ArgumentParser) -> None:
    # Plain ints: a value out of range is the model's one-line error (it knows its depth and width), not argparse's.
    parser.add_argument("--layers", type=int, metavar="K",
                        help="run the model's first K transformer layers alone (default: all)")
    parser.add_argument("--dim", type=int, metavar="D",
                        help="keep the first D dimensions of every vector (default: the full width)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uwe",
                                     description="Rank texts, extract skills from job ads, serve a model over HTTP, "
                                                 "export a checkpoint, merge fine-tuned models.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of user errors too (or UWE_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", required=True)

    rank = commands.add_parser("rank", help="top-k labels of a space for each text")
    rank.add_argument("texts", nargs="*", help="texts to rank for (or --input)")
    rank.add_argument("--input", type=Path, help="a file of texts, one per line (blank lines skipped)")
    rank.add_argument("--space", required=True,
                      help="esco_skills, esco_occupations, onet_tech_skills or a --labels name")
    rank.add_argument("-k", type=int, default=10, help="labels per text (default 10)")
    rank.add_argument("--format", choices=["table", "json"], default="table")
    scope = rank.add_mutually_exclusive_group()
    scope.add_argument("--candidates", type=_positive_int, default=None,
                       help="two-stage: exact scores on the N best labels by pooled cosine only (not exhaustive); "
                            "default: the head's fast path (cosine: the exact top k; soft_li: 2,048 candidates)")
    scope.add_argument("--exhaustive", action="store_true", help="score every label of the space")
    _model_args(rank, "minilm")
    _view_args(rank)

    serve = commands.add_parser("serve", help="an HTTP service: POST /rank, GET /spaces, GET /health")
    _model_args(serve, "minilm")
    _view_args(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    preload = serve.add_mutually_exclusive_group()
    preload.add_argument("--preload", action="append", metavar="SPACE",
                         help="a space loaded before GET /health says ready (repeatable; default: every built-in one)")
    preload.add_argument("--no-preload", action="store_true", help="load each built-in space on first use instead")
    serve.add_argument("--max-batch", type=_positive_int, default=64,
                       help="texts per encoder batch, gathered from concurrent requests (default 64)")
    serve.add_argument("--max-wait", type=float, default=5.0, metavar="MS",
                       help="how long a request waits for others to share its batch (default 5 ms)")
    serve.add_argument("--no-batching", action="store_true",
                       help="rank each request alone under one lock (the reference path of bench/bench_serve.py)")
    serve.add_argument("--max-texts", type=_positive_int, default=256, help="most texts per request (default 256)")
    serve.add_argument("--max-text-chars", type=_positive_int, default=2000,
                       help="longest text in characters (default 2000)")
    serve.add_argument("--max-body-bytes", type=_positive_int, default=1 << 20,
                       help="largest request body; a larger one is refused with 413 unread (default 1 MiB)")
    serve.add_argument("--max-k", type=_positive_int, default=100, help="largest k per request (default 100)")

    export = commands.add_parser("export", help="a checkpoint or model -> a SentenceTransformer folder + uwe head")
    export.add_argument("ckpt", type=Path, metavar="CKPT_OR_MODEL",
                        help="a train.py .ckpt, an export folder, or an encoder name (minilm, mpnet, a model folder; "
                             "exported with the cosine head)")
    export.add_argument("out", type=Path)
    export.add_argument("--onnx", action="store_true",
                        help='also write model.onnx and model.int8.onnx for ONNX Runtime query encoding '
                             '(pip install "uwe[onnx]")')
    export.add_argument("--overwrite", action="store_true", help="replace OUT when it is a uwe export (never any other "
                                                                 "folder)")
    _view_args(export)

    merge = commands.add_parser("merge", help="models fine-tuned from one backbone -> one export folder")
    merge.add_argument("models", nargs="+", help="train.py .ckpt files or export folders (uwe export)")
    merge.add_argument("--out", type=Path, required=True, help="the export folder to write")
    merge.add_argument("--method", choices=["average", "task_arithmetic"], default="average",
                       help="average: uniform weight averaging (default); task_arithmetic: "
                            "BASE + SCALE * sum_i (model_i - BASE)")
    merge.add_argument("--scale", type=float,
                       help="task_arithmetic's lambda (default 1.0; 1/n is averaging; 0.3-1.0 is usual)")
    merge.add_argument("--base", help="task_arithmetic's backbone: minilm, mpnet, tiny, a model folder, an export "
                                      "folder or a .ckpt")
    merge.add_argument("--overwrite", action="store_true", help="replace OUT when it is a uwe export (never any other "
                                                                "folder)")

    extract = commands.add_parser("extract", help="ESCO skills and occupations of a job ad, with calibrated "
                                                  "probabilities and evidence sentences")
    extract.add_argument("file", nargs="?", default="-", help="the ad, a UTF-8 text file, or - for stdin (default)")
    extract.add_argument("--title", help="the job title (default: the ad's first line when it reads as one)")
    extract.add_argument("--min-prob", type=_probability, default=None,
                         help="report skills from this probability (default: the calibrated operating point)")
    extract.add_argument("--top", type=_positive_int, default=None, help="at most N skills, most probable first")
    extract.add_argument("--format", choices=["table", "json"], default="table")
    extract.add_argument("--any-language", action="store_true",
                         help="extract from an ad that does not look English (the model was trained on English)")
    _model_args(extract, "minilm")

    calibrate = commands.add_parser("calibrate", help="refit a model's extraction calibration on the validation data")
    calibrate.add_argument("--model", default="minilm",
                           help="export folder, train.py .ckpt, or encoder name (minilm, mpnet, tiny, HF folder)")
    calibrate.add_argument("--head", help="head of a zero-shot encoder (default cosine); exports bring their own")
    calibrate.add_argument("--out", type=Path, help="where to write calibration.json (default: the export folder the "
                                                    "model came from, else the cache)")
    calibrate.add_argument("--data-root", help="the data root holding the validation files (default as uwe.data)")
    calibrate.add_argument("--cache-dir", help="where spaces and calibrations are cached (default $UWE_CACHE_DIR "
                                               "or ~/.cache/uwe)")

    evaluate = commands.add_parser("evaluate", help="MAP, RP@10 and MRR of a model on your own ranking task (files)")
    evaluate.add_argument("--pairs", type=Path, required=True,
                          help="relevant pairs: .csv, .tsv, .jsonl or .parquet (columns query and label), one row "
                               "per pair")
    evaluate.add_argument("--query-column", default="query", help="the PAIRS column holding the queries")
    evaluate.add_argument("--label-column", default="label", help="the PAIRS column holding the labels")
    evaluate.add_argument("--targets", type=Path, help="the labels ranked, one per line (default: those of --pairs)")
    evaluate.add_argument("--model", default="minilm",
                          help="export folder, train.py .ckpt, or encoder name (minilm, mpnet, tiny, HF folder)")
    evaluate.add_argument("--head", help="head of a zero-shot encoder (default cosine); trained models bring their own")
    evaluate.add_argument("--name", help="the task's name in the results (default: the --pairs file's name)")
    evaluate.add_argument("--format", choices=["table", "json"], default="table")
    evaluate.add_argument("--drop-unknown", action="store_true",
                          help="drop the pairs whose label is not in --targets (default: an error naming them)")
    evaluate.add_argument("--out", type=Path, help="write results.json and results.md to this folder")
    evaluate.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    evaluate.add_argument("--cache-dir", help="where target spaces are cached (default $UWE_CACHE_DIR or ~/.cache/uwe)")
    evaluate.add_argument("--refresh", action="store_true", help="re-encode the target space and replace its cache")
    _view_args(evaluate)
    _annotate_args(commands.add_parser(
        "annotate", help="every ad of a dataset -> occupation and skills, in Parquet parts, on Ray Data (resumable)"))
    return parser


def _annotate_args(annotate: argparse.ArgumentParser) -> None:
    annotate.add_argument("input", metavar="INPUT", help="a .parquet, .csv or .jsonl file, or a folder of them (local, "
                                                         "s3://, gs://)")
    annotate.add_argument("--out", required=True, metavar="DIR", help="the folder of Parquet parts and _manifest.json")
    annotate.add_argument("--id", default="id", help="the id column (default id)")
    annotate.add_argument("--text", default="text", help="the ad's text column (default text)")
    annotate.add_argument("--title", help="the job title column (default: the ad's first line when it reads as one)")
    annotate.add_argument("--min-prob", type=_probability, default=None,
                          help="report skills from this probability (default: the calibrated operating point)")
    annotate.add_argument("--any-language", action="store_true",
                          help="annotate ads that do not look English (default: such a row gets an error)")
    annotate.add_argument("--embeddings", choices=["float16", "float32"], help="also write each ad's pooled vector")
    annotate.add_argument("--model", default="minilm",
                          help="export folder, train.py .ckpt, or encoder name (minilm, mpnet, tiny, HF folder)")
    annotate.add_argument("--head", help="head of a zero-shot encoder (default cosine); exports bring their own")
    annotate.add_argument("--cache-dir", help="where spaces are cached (default $UWE_CACHE_DIR or ~/.cache/uwe)")
    annotate.add_argument("--data-root", help="data root of the built-in spaces (default as uwe.data)")
    annotate.add_argument("--workers", type=_positive_int, help="actors, each loading the model once (default: one "
                                                                "per CPU Ray has)")
    annotate.add_argument("--threads", type=_positive_int, default=1, help="CPU threads per worker (default 1)")
    annotate.add_argument("--batch-size", type=_positive_int, default=64,
                          help="ads whose sentences are encoded together (default 64)")
    annotate.add_argument("--part-rows", type=_positive_int, default=10_000,
                          help="rows per output part (Parquet: whole row groups; default 10000)")
    annotate.add_argument("--address", help="a Ray cluster (default RAY_ADDRESS, else Ray started on this machine)")
    annotate.add_argument("--overwrite", action="store_true",
                          help="redo DIR's parts when they were made with another model or options")
    annotate.add_argument("--watch", type=float, metavar="SECONDS",
                          help="keep polling INPUT every SECONDS for new or changed files; SIGTERM stops after the "
                               "parts in flight")
    annotate.add_argument("--no-progress", action="store_true", help="no progress bar")
    _view_args(annotate)


def _ranker(args, layers: int | None = None, dim: int | None = None):
    from uwe.data.known_files import ENV_VAR
    from uwe.ranker import Ranker

    if args.allow_unknown:
        os.environ[ENV_VAR] = "1"  # read by the data layer when a built-in space is first built
    ranker = Ranker.from_pretrained(args.model, head=args.head, cache_dir=args.cache_dir, data_root=args.data_root,
                                    refresh=args.refresh, refresh_hint="pass --refresh", layers=layers, dim=dim)
    for name, file in args.labels:
        ranker.add_space(name, read_lines(file))
    return ranker


def format_table(texts: list[str], ranked: list[list[tuple[str, float]]]) -> str:
    """One block per text: its rank, score and label lines."""
    blocks = []
    for text, rows in zip(texts, ranked):
        lines = [text] + [f"  {i:>3}  {score:7.4f}  {label}" for i, (label, score) in enumerate(rows, start=1)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def cmd_rank(args) -> None:
    texts = list(args.texts) + (read_lines(args.input) if args.input else [])
    if not texts:
        raise UserError("no text to rank: give texts as arguments or --input FILE")
    ranked = _ranker(args, args.layers, args.dim).rank(texts, args.space, args.k, candidates=args.candidates,
                                                       exhaustive=args.exhaustive)
    if args.format == "json":
        print(json.dumps([{"text": t, "results": [{"label": label, "score": score} for label, score in rows]}
                          for t, rows in zip(texts, ranked)], ensure_ascii=False, indent=1))
    else:
        print(format_table(texts, ranked))


def cmd_serve(args) -> None:
    import logging

    import uvicorn

    from uwe.ranker import BUILTIN_SPACES
    from uwe.serve import create_app

    ranker = _ranker(args, args.layers, args.dim)
    preload = [] if args.no_preload else args.preload or list(BUILTIN_SPACES)
    spaces = ranker.spaces()
    for space in preload:
        if space not in spaces:
            raise UserError(f"--preload {space!r} is no space; valid: {', '.join(sorted(spaces))}")
    log = logging.getLogger("uwe.serve")  # one access-log line per request, and the preloading
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    app = create_app(ranker, max_texts=args.max_texts, max_k=args.max_k, max_text_chars=args.max_text_chars,
                     max_body_bytes=args.max_body_bytes, max_batch=args.max_batch, max_wait_ms=args.max_wait,
                     batching=not args.no_batching, preload=preload)
    log.info("model %s on http://%s:%d, preloading %s", ranker.name, args.host, args.port, ", ".join(preload) or "none")
    # SIGTERM: uvicorn stops accepting, answers the requests in flight (for up to 30 s), then the app stops its batcher
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=30)


def cmd_export(args) -> None:
    from uwe.models.checkpoint import export_trained, load_checkpoint
    from uwe.models.export import export_encoder

    if args.ckpt.suffix != ".ckpt":
        print(export_encoder(str(args.ckpt), args.out, args.overwrite, args.onnx, args.layers, args.dim))
        return
    encoder, head, hparams = load_checkpoint(args.ckpt)
    encoder.set_view(args.layers, args.dim)
    print(export_trained(encoder, head, hparams, args.out, str(Path(args.ckpt).resolve()), args.overwrite,
                         args.onnx))


def cmd_merge(args) -> None:
    from uwe.models.merge import eval_command, merge_models

    out = merge_models(args.models, args.out, args.method, args.scale, args.base, args.overwrite)
    print(out)
    command = eval_command(out)
    print(f"evaluate it: {command}" if command else
          "its head has parameters, which eval.py cannot load; rank with Ranker.from_pretrained", file=sys.stderr)


def cmd_evaluate(args) -> None:
    from uwe.eval.custom import describe_dropped, evaluate_files, format_custom, summary

    record = evaluate_files(args.pairs, args.targets, args.model, head=args.head, name=args.name,
                            drop_unknown=args.drop_unknown, cache_dir=args.cache_dir, refresh=args.refresh,
                            device=args.device, out_dir=args.out, layers=args.layers, dim=args.dim,
                            query_column=args.query_column, label_column=args.label_column)
    entry = next(iter(record["custom"].values()))
    if entry["dropped"]:
        print(describe_dropped(entry["dropped"]), file=sys.stderr)
    print(json.dumps(summary(entry), indent=1) if args.format == "json" else format_custom(record["custom"]))
    if args.out:
        print(f"results: {args.out / 'results.json'}, {args.out / 'results.md'}", file=sys.stderr)


def read_ad(file: str) -> str:
    """The ad in ``file`` (``-``: stdin) as text; a clear error for a missing, binary or non-UTF-8 file."""
    data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    where = "stdin" if file == "-" else file
    if b"\0" in data:
        raise UserError(f"{where} is a binary file (it holds NUL bytes), not a text ad; extract its text first "
                        "(e.g. pdftotext ad.pdf ad.txt)")
    return decode_utf8(data, where, "utf-8-sig")


def format_extraction(found) -> str:
    """A table for people: the title and its occupations, then each skill, its probability and evidence."""
    lines = []
    if found.title is not None:
        lines.append(f"title ({found.title_source}): {found.title}")
        lines += [f"  {o.probability:5.1%}  {o.label}  <{o.uri}>" for o in found.occupations]
    lines.append(f"{len(found.skills)} skill(s) from {found.sentences} sentence(s), probability >= "
                 f"{found.threshold:.3f}:")
    for skill in found.skills:
        lines.append(f"  {skill.probability:5.1%}  {skill.label}  <{skill.uri}>")
        lines += [f"           [{e.start}:{e.end}] {e.text}" for e in skill.evidence]
    return "\n".join(lines)


def cmd_extract(args) -> None:
    from uwe.extract import check_ad

    text = check_ad(read_ad(args.file), args.any_language)  # before the model loads: a bad ad fails at once
    found = _ranker(args).extract(text, args.title, args.min_prob, args.top, args.any_language)
    print(json.dumps(found.to_dict(), ensure_ascii=False, indent=1) if args.format == "json"
          else format_extraction(found))


def cmd_calibrate(args) -> None:
    from uwe.extract import calibrate
    from uwe.ranker import Ranker

    ranker = Ranker.from_pretrained(args.model, head=args.head, cache_dir=args.cache_dir, data_root=args.data_root)
    print(calibrate(ranker, out=args.out))


def cmd_annotate(args) -> None:
    from uwe.annotate import AnnotateOptions, ModelSpec
    from uwe.annotate.pipeline import annotate, require_ray

    require_ray()  # before anything is read: say how to install it
    options = AnnotateOptions(args.id, args.text, args.title, args.min_prob, args.any_language, args.embeddings,
                              batch_size=args.batch_size)
    spec = ModelSpec(args.model, args.head, args.cache_dir, args.data_root, args.layers, args.dim, args.threads)
    status = annotate(args.input, args.out, spec, options, args.workers, args.address, args.overwrite,
                      args.part_rows, args.watch, progress=not args.no_progress)
    if status:
        raise SystemExit(status)


COMMANDS = {"annotate": cmd_annotate, "extract": cmd_extract, "calibrate": cmd_calibrate, "rank": cmd_rank,
            "serve": cmd_serve, "export": cmd_export, "merge": cmd_merge, "evaluate": cmd_evaluate}


def main(argv: list[str] | None = None) -> int:
    """Run ``uwe``: 0 on success; a user error is one line on stderr and exit status 2 (see uwe.errors)."""
    args = build_parser().parse_args(argv)
    quiet_libraries()
    try:
        with main_guard(f"uwe {args.command}", debug=args.debug):
            COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except SystemExit as stop:
        return stop.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
