"""Every command that README.md and docs/ show works: Hydra commands compose, ``uwe`` and script flags parse,
python blocks import what exists, and blocks marked ``# quick`` run as written (tests/docs_commands.py)."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import uwe.cli
from tests.docs_commands import ROOT, Block, blocks, check_command, check_python, commands, problems

ALL = blocks()
QUICK = [b for b in ALL if b.quick]


def test_the_docs_show_commands_of_every_kind():
    langs = {b.lang for b in ALL}
    programs = {argv[1] if argv[0] == "python" else argv[0] for b in ALL if b.lang == "bash"
                for argv in commands(b.text)}
    assert langs == {"bash", "python"}
    assert {"train.py", "eval.py", "uwe", "-m"} <= programs
    assert QUICK, "no block is marked # quick"


def test_every_command_shown_checks():
    assert problems(ALL) == []


@pytest.mark.parametrize("block", QUICK, ids=lambda b: b.where)
def test_quick_blocks_run_as_written(block: Block, tmp_path):
    env = {**os.environ, "UWE_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "WANDB_MODE": "offline", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = ["bash", "-euo", "pipefail", "-c", block.text] if block.lang == "bash" else [sys.executable, "-c", block.text]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{block.where} exited {done.returncode}: {done.stderr[-2000:]}"


def renamed(build, old: str, new: str):
    """``uwe.cli.build_parser`` with the flag ``old`` renamed ``new`` in every subcommand that has it."""

    def build_renamed() -> argparse.ArgumentParser:
        parser = build()
        subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for sub in subcommands.choices.values():
            action = sub._option_string_actions.pop(old, None)
            if action is not None:
                action.option_strings = [new if s == old else s for s in action.option_strings]
                sub._option_string_actions[new] = action
        return parser

    return build_renamed


def test_a_renamed_flag_fails_on_the_blocks_that_show_it(monkeypatch):
    """``--space`` renamed ``--space-name`` (a longer name: an abbreviation must not pass): every block that
    shows ``uwe rank ... --space`` is named, and nothing else."""
    monkeypatch.setattr(uwe.cli, "build_parser", renamed(uwe.cli.build_parser, "--space", "--space-name"))
    found = problems(ALL)
    assert found and all(re.search(r"uwe rank .*--space ", f) for f in found), found
    assert any(f.startswith("README.md:") for f in found)


@pytest.mark.parametrize("command, error", [
    ("uwe rank 'data scientist' --spaces esco_skills", "required: --space"),
    ("uwe serve --max-batc 8", "unrecognized arguments: --max-batc"),
    ("python train.py experiment=cpu_longg", "Could not find 'experiment/cpu_longg'"),
    ("python train.py experiment=cpu_long trainer.max_stepz=5", "Could not override 'trainer.max_stepz'"),
    ("python train.py -m loss=infonce,no_such_loss", "Could not find 'loss/no_such_loss'"),
    ("python eval.py encoder=minilm layerz=3", "Could not override 'layerz'"),
    ("python -m uwe.data summary --jsn", "unrecognized arguments: --jsn"),
    ("python bench/bench_serve.py --request 5", "unrecognized arguments: --request"),
    ("python bench/no_such_bench.py", "does not exist"),
    ("bash bench/device_paper_run.sh --smok", "has no --smok"),
])
def test_a_command_that_no_longer_works_is_named(command, error):
    assert error in (check_command(shlex.split(command)) or "")


def test_python_blocks_are_checked_against_the_api():
    assert check_python("from uwe import Rankr") == "uwe has no Rankr"
    assert check_python("from uwe import Ranker\nRanker.from_pretrained('minilm', layerz=3)") == \
        "Ranker.from_pretrained has no parameter layerz"
    assert check_python("ranker.rank('baker', 'esco_skills', k=5, candidates=10)") is None


def test_the_readmes_relative_links_exist():
    text = (ROOT / "README.md").read_text()
    targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t}
    assert targets and not [t for t in sorted(targets) if not (ROOT / t).exists()]


def test_the_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
