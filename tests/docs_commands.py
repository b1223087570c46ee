"""The fenced ``bash`` and ``python`` blocks of README.md and docs/, and a check of each command in them.

A command is checked without running it: ``python train.py|eval.py OVERRIDES`` composes with Hydra (as ``--cfg
job`` would; ``-m`` sweeps are expanded), ``uwe SUBCOMMAND ...`` parses with ``uwe.cli.build_parser()``, and
``python -m uwe.data ...``, ``python SCRIPT.py ...`` parse with their own argparse parser, stopped right after
parsing. Abbreviated flags are refused, so a flag that was renamed to a longer one is caught. ``bash SCRIPT``
must exist and hold every ``--flag`` shown. Other programs (pip, printf, curl, mkdocs, ...) are not checked
here. A block whose first line is a ``# quick`` comment is also run as written (tests/test_docs_commands.py).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import inspect
import io
import itertools
import re
import runpy
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)
OPERATORS = {"&&", "||", "|", ";", "&"}
REDIRECTS = {">", ">>", "<", "2>", "2>>"}
HYDRA_SCRIPTS = {"train.py": "train", "eval.py": "eval"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def quick(self) -> bool:
        return self.text.lstrip().startswith("# quick")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(paths: list[Path] | None = None) -> list[Block]:
    found = []
    for path in paths or doc_files():
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) in ("bash", "python"):
                found.append(Block(path, text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2)))
    return found


def commands(script: str) -> list[list[str]]:
    """The simple commands of a bash block: comments, ``VAR=value`` prefixes and redirections dropped; a command
    substitution ``$(...)`` stands for one word."""
    script = re.sub(r"\$\([^)]*\)", "SUBSTITUTED", script.replace("\\\n", " "))
    found = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        current: list[str] = []
        words = iter(list(lexer))
        for word in words:
            if word in OPERATORS:
                found.append(current)
                current = []
            elif word in REDIRECTS:
                next(words, None)
            elif current or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
                current.append(word)
        found.append(current)
    return [c for c in found if c]


def check_command(argv: list[str]) -> str | None:
    """None when ``argv`` is fine (or not a command checked here), else what is wrong, in one line."""
    program, args = argv[0], argv[1:]
    if program == "uwe":
        import uwe.cli

        return parse_only(uwe.cli.build_parser(), args)
    if program == "bash" and args:
        script = ROOT / args[0]
        if not script.is_file():
            return f"{args[0]} does not exist"
        text = script.read_text()
        missing = [a for a in args[1:]
                   if a.startswith("--") and not re.search(re.escape(a.split("=")[0]) + r"(?![\w-])", text)]
        return f"{args[0]} has no {', '.join(missing)}" if missing else None
    if program not in ("python", "python3") or not args:
        return None
    if args[0] in HYDRA_SCRIPTS:
        return compose(HYDRA_SCRIPTS[args[0]], args[1:])
    if args[0] == "-m" and len(args) > 1 and args[1].startswith("uwe"):
        return run_parser(lambda: runpy.run_module(args[1], run_name="__main__", alter_sys=True), args[1], args[2:])
    if args[0].endswith(".py"):
        script = ROOT / args[0]
        if not script.is_file():
            return f"{args[0]} does not exist"
        if "parse_args(" not in script.read_text():
            return f"{args[0]} takes no arguments" if args[1:] else None
        return run_parser(lambda: runpy.run_path(str(script), run_name="__main__"), args[0], args[1:])
    return None


def no_abbrev(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` and its subcommands' parsers refuse abbreviated flags (``--max-batch`` for ``--max-batch-size``)."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                no_abbrev(sub)
    return parser


def parse_only(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            no_abbrev(parser).parse_args(args)
    except SystemExit as exit_:
        if exit_.code:
            return " ".join(err.getvalue().strip().splitlines()[-1:]) or f"exit status {exit_.code}"
    return None


class Parsed(Exception):
    """Raised from the first ``parse_args`` that succeeds: the script stops before any work."""


def run_parser(run, name: str, args: list[str]) -> str | None:
    """Runs a script or module until its argparse parser has parsed ``args``; its parse errors, in one line."""
    real = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):
        real(no_abbrev(self), args, namespace)
        raise Parsed

    err = io.StringIO()
    try:
        with mock.patch.object(argparse.ArgumentParser, "parse_args", parse_args), \
                mock.patch.object(sys, "argv", [name, *args]), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            run()
    except Parsed:
        return None
    except SystemExit as exit_:  # 0: --help
        return (" ".join(err.getvalue().strip().splitlines()[-1:]) or f"exit status {exit_.code}") if exit_.code else None
    return f"{name} finished without parsing its arguments"


def compose(config_name: str, overrides: list[str]) -> str | None:
    """Hydra composes ``config_name`` with ``overrides`` (each job of a ``-m`` sweep); the first error, in one line."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser

    jobs = [overrides]
    if "-m" in overrides or "--multirun" in overrides:
        plain = [o for o in overrides if o not in ("-m", "--multirun")]
        parsed = OverridesParser.create().parse_overrides(plain)
        choices = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
                   else [o.input_line] for o in parsed]
        jobs = [list(job) for job in itertools.product(*choices)]
    try:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            for job in jobs:
                hydra_compose(config_name=config_name, overrides=job)
    except Exception as err:  # any composition error is the finding: report it
        return f"{type(err).__name__}: {' '.join(str(err).split())}"
    return None


def check_python(source: str) -> str | None:
    """A python block compiles, every name it imports from uwe exists, and every keyword it passes to a Ranker
    method is one of that method's parameters."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return f"SyntaxError: {err}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "uwe":
            module = importlib.import_module(node.module)
            missing = [a.name for a in node.names if not hasattr(module, a.name)]
            if missing:
                return f"{node.module} has no {', '.join(missing)}"
    from uwe.ranker import Ranker

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and hasattr(Ranker, node.func.attr):
            params = inspect.signature(getattr(Ranker, node.func.attr)).parameters
            if any(p.kind == p.VAR_KEYWORD for p in params.values()):
                continue
            unknown = [k.arg for k in node.keywords if k.arg is not None and k.arg not in params]
            if unknown:
                return f"Ranker.{node.func.attr} has no parameter {', '.join(unknown)}"
    return None


def problems(found: list[Block]) -> list[str]:
    """``where: command: what is wrong`` for every command of ``found`` that does not check."""
    out = []
    for block in found:
        if block.lang == "python":
            error = check_python(block.text)
            if error:
                out.append(f"{block.where}: python block: {error}")
            continue
        for argv in commands(block.text):
            error = check_command(argv)
            if error:
                out.append(f"{block.where}: {shlex.join(argv)}: {error}")
    return out
