"""Write the pair files of the own-data study: O*NET 29.2 split by occupation, half to train, half held out.

    python experiments/own_data/make_pairs.py [--out outputs/own_data/pairs] [--seed 42]

O*NET's 1,016 occupations (by O*NET-SOC code) are split 50/50 with :func:`uwe.data.splits.seeded_split`. From the
training half, two pair files that train.py reads as graphs:

- ``train/title_occupation.parquet``: alternate title -> occupation title;
- ``train/occupation_tech.parquet``: occupation title -> technology skill (``Technology Skills.txt``, Example).

From the held-out half, two evaluation files of the same kinds for ``uwe evaluate --pairs``, each ranked against
the WHOLE taxonomy, so the seen half competes as distractors:

- ``heldout/title_occupation.csv`` against ``targets/occupations.txt`` (all 1,016 occupation titles);
- ``heldout/occupation_tech.csv`` against ``targets/tech_skills.txt`` (every technology skill).

No held-out occupation, nor any of its pairs, is in a training file. A training pair that equals a test pair
of a WorkBench task (either direction, compared as the leakage guard compares) is left out, as a user would
clean their own file after the guard named it (one: "Graphic Designer" -> "Graphic Designers" is a jobnorm
test pair). The raw files are read (and checked against their known release) by uwe's own readers.
``split.json`` records the seed, the codes of each half, what was left out, the sizes and the sha256 of every
file written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pandas as pd

from uwe.data.catalog import Catalog
from uwe.data.leakage import pair_text, test_pair_set
from uwe.data.pairs import read_pair_table
from uwe.data.raw import RawData
from uwe.data.tasks.registry import WORKBENCH_TASKS
from uwe.data.splits import seeded_split
from uwe.data.write_pairs import write_pairs_file


def title_pairs(raw: RawData, codes: set[str]) -> pd.DataFrame:
    titles = raw.onet_titles()
    alt = raw.onet("Alternate Titles.txt")
    rows = [(a, titles[c]) for c, a in zip(alt["O*NET-SOC Code"], alt["Alternate Title"]) if c in codes]
    return pd.DataFrame(rows, columns=["query", "label"])


def tech_pairs(raw: RawData, codes: set[str]) -> pd.DataFrame:
    titles = raw.onet_titles()
    tech = raw.onet("Technology Skills.txt")
    rows = [(titles[c], e) for c, e in zip(tech["O*NET-SOC Code"], tech["Example"]) if c in codes]
    return pd.DataFrame(rows, columns=["query", "label"])


def without_test_pairs(pairs: pd.DataFrame, test_pairs: dict[tuple[str, str], str]) -> tuple[pd.DataFrame, int]:
    """``pairs`` without the rows that equal a test pair (the leakage guard's comparison), and how many."""
    leaks = [(pair_text(q), pair_text(label)) in test_pairs for q, label in zip(pairs["query"], pairs["label"])]
    return pairs[~pd.Series(leaks, index=pairs.index)], int(sum(leaks))


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("outputs/own_data/pairs"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--root", help="data root (default: $UWE_DATA_DIR, ./data, or ../shared/data)")
    args = p.parse_args(argv)
    raw = RawData(args.root)
    titles = raw.onet_titles()
    train, held_out = (set(h) for h in seeded_split(list(titles), 0.5, seed=args.seed))
    all_tech = sorted(set(raw.onet("Technology Skills.txt")["Example"].str.strip()))
    catalog = Catalog(args.root)
    test_pairs = test_pair_set(catalog.task(t, "test") for t in WORKBENCH_TASKS)
    train_titles, left_out_titles = without_test_pairs(title_pairs(raw, train), test_pairs)
    train_tech, left_out_tech = without_test_pairs(tech_pairs(raw, train), test_pairs)
    files = {
        "train/title_occupation.parquet": write_pairs_file(train_titles, args.out / "train/title_occupation.parquet"),
        "train/occupation_tech.parquet": write_pairs_file(train_tech, args.out / "train/occupation_tech.parquet"),
        "heldout/title_occupation.csv": write_pairs_file(title_pairs(raw, held_out), args.out / "heldout/title_occupation.csv"),
        "heldout/occupation_tech.csv": write_pairs_file(tech_pairs(raw, held_out), args.out / "heldout/occupation_tech.csv"),
        "targets/occupations.txt": write_lines(args.out / "targets/occupations.txt", sorted(set(titles.values()))),
        "targets/tech_skills.txt": write_lines(args.out / "targets/tech_skills.txt", all_tech),
    }
    record = {
        "seed": args.seed, "sources": raw.versions(["onet"]),
        "occupations": {"train": sorted(train), "held_out": sorted(held_out)},
        "left_out_equal_to_workbench_test_pairs": {"train/title_occupation.parquet": left_out_titles,
                                                   "train/occupation_tech.parquet": left_out_tech},
        "files": {name: {"rows": len(path.read_text(encoding="utf-8").splitlines()) if path.suffix == ".txt"
                         else len(read_pair_table(path).query_ids),
                         "sha256": hashlib.sha256(path.read_bytes()).hexdigest()} for name, path in files.items()},
    }
    (args.out / "split.json").write_text(json.dumps(record, indent=1))
    for name, info in record["files"].items():
        print(f"{args.out / name}: {info['rows']:,} rows")
    return record


if __name__ == "__main__":
    main()
