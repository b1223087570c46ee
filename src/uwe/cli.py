"""The ``uwe`` command: rank texts, serve a model over HTTP, export a checkpoint, merge fine-tuned models.

    uwe rank "data scientist" --space esco_skills -k 10 [--model minilm] [--input texts.txt] [--format json]
    uwe serve --model PATH --port 8080 [--host 127.0.0.1] [--labels NAME=FILE] [--preload esco_skills]
    uwe export CKPT OUT [--overwrite]
    uwe merge CKPT_OR_EXPORT... --out OUT [--method average|task_arithmetic --scale L --base BASE] [--overwrite]

Errors end the command with exit status 1 and one line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def _labels_arg(value: str) -> tuple[str, Path]:
    name, sep, file = value.partition("=")
    if not sep or not name or not file:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE (one label per line), got {value!r}")
    return name, Path(file)


def read_lines(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped; an error if there are none."""
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"{path} has no non-blank line")
    return lines


def _model_args(parser: argparse.ArgumentParser, default_model: str | None) -> None:
    parser.add_argument("--model", default=default_model, required=default_model is None,
                        help="export folder, train.py .ckpt, or encoder name (minilm, mpnet, tiny, HF folder)")
    parser.add_argument("--head", help="head of a zero-shot encoder (default cosine); exports bring their own")
    parser.add_argument("--labels", type=_labels_arg, action="append", default=[], metavar="NAME=FILE",
                        help="add a space NAME from FILE, one label per line (repeatable)")
    parser.add_argument("--cache-dir", help="where spaces are cached (default $UWE_CACHE_DIR or ~/.cache/uwe)")
    parser.add_argument("--data-root", help="data root of the built-in spaces (default as uwe.data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uwe",
                                     description="Rank texts, serve a model over HTTP, export a checkpoint, merge "
                                                 "fine-tuned models.")
    commands = parser.add_subparsers(dest="command", required=True)

    rank = commands.add_parser("rank", help="top-k labels of a space for each text")
    rank.add_argument("texts", nargs="*", help="texts to rank for (or --input)")
    rank.add_argument("--input", type=Path, help="a file of texts, one per line (blank lines skipped)")
    rank.add_argument("--space", required=True,
                      help="esco_skills, esco_occupations, onet_tech_skills or a --labels name")
    rank.add_argument("-k", type=int, default=10, help="labels per text (default 10)")
    rank.add_argument("--format", choices=["table", "json"], default="table")
    _model_args(rank, "minilm")

    serve = commands.add_parser("serve", help="an HTTP service: POST /rank, GET /spaces, GET /health")
    _model_args(serve, None)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--preload", action="append", default=[], metavar="SPACE",
                       help="load a built-in space before serving (repeatable)")
    serve.add_argument("--max-batch", type=int, default=256, help="most texts per request")
    serve.add_argument("--max-k", type=int, default=100, help="largest k per request")

    export = commands.add_parser("export", help="a train.py checkpoint -> a SentenceTransformer folder + uwe head")
    export.add_argument("ckpt", type=Path)
    export.add_argument("out", type=Path)
    export.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT")

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
    merge.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT")
    return parser


def _ranker(args):
    from uwe.ranker import Ranker

    ranker = Ranker.from_pretrained(args.model, head=args.head, cache_dir=args.cache_dir, data_root=args.data_root)
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
        raise ValueError("no text to rank: give texts as arguments or --input FILE")
    ranked = _ranker(args).rank(texts, args.space, args.k)
    if args.format == "json":
        print(json.dumps([{"text": t, "results": [{"label": label, "score": score} for label, score in rows]}
                          for t, rows in zip(texts, ranked)], ensure_ascii=False, indent=1))
    else:
        print(format_table(texts, ranked))


def cmd_serve(args) -> None:
    import uvicorn

    from uwe.serve import create_app

    ranker = _ranker(args)
    for space in args.preload:
        ranker.space(space)
    uvicorn.run(create_app(ranker, args.max_batch, args.max_k), host=args.host, port=args.port, log_level="warning")


def cmd_export(args) -> None:
    from uwe.train.module import UWEModule

    module = UWEModule.load_trained(args.ckpt)
    print(module.export(args.out, checkpoint=str(Path(args.ckpt).resolve()), overwrite=args.overwrite))


def cmd_merge(args) -> None:
    from uwe.models.merge import eval_command, merge_models

    out = merge_models(args.models, args.out, args.method, args.scale, args.base, args.overwrite)
    print(out)
    command = eval_command(out)
    print(f"evaluate it: {command}" if command else
          "its head has parameters, which eval.py cannot load; rank with Ranker.from_pretrained", file=sys.stderr)


COMMANDS = {"rank": cmd_rank, "serve": cmd_serve, "export": cmd_export, "merge": cmd_merge}


def main(argv: list[str] | None = None) -> int:
    """Run ``uwe``; 0 on success, 1 with a one-line message on stderr on any error."""
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 -- the one place that turns any error into a message
        message = re.sub(r"\s*\n\s*", " ", str(err)).strip() or repr(err)
        print(f"uwe {args.command}: error: {type(err).__name__}: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
