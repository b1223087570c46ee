"""``python -m uwe.data summary [--json]``, ``python -m uwe.data fetch`` and
``python -m uwe.data export-graph NAME OUT`` (a built-in training graph as a pair file that train.py reads back
with ``+task_mix.graphs.<name>.pairs=OUT``).

A user error (a missing or unknown raw file, a bad argument) is one line on stderr and exit status 2 (see
uwe.errors); ``--debug`` (or ``UWE_DEBUG=1``) shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from uwe.data.catalog import Catalog
from uwe.data.fetch import fetch
from uwe.data.pairs import check_format
from uwe.data.root import resolve_root
from uwe.data.summary import format_table, summarize
from uwe.data.write_pairs import write_graph
from uwe.errors import main_guard


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m uwe.data", description=__doc__)
    p.add_argument("--root", help="data root (default: $UWE_DATA_DIR, ./data, or ../shared/data)")
    p.add_argument("--cache-dir", help="built-object cache (default: $UWE_CACHE_DIR or ~/.cache/uwe)")
    p.add_argument("--no-cache", action="store_true", help="build from the raw files; write no cache")
    p.add_argument("--skillmatch", help="SkillMatch-1K CSV: adds the real skillmatch task")
    p.add_argument("--allow-unknown", action="store_true",
                   help="read raw files that are not the known release (as data.allow_unknown_versions=true)")
    p.add_argument("--esco-source", choices=["zip", "folder"],
                   help="which is read when an ESCO file is both extracted and in its zip")
    p.add_argument("--debug", action="store_true", help="show the traceback of user errors too (or UWE_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="print the size of every task split and graph")
    s.add_argument("--json", action="store_true", help="machine-readable sizes")
    sub.add_parser("fetch", help="download the public data into the data root (needs the internet)")
    e = sub.add_parser("export-graph", help="write a built-in training graph as a pair file (query, label columns)")
    e.add_argument("name", help="the graph, e.g. vacancy_skill (see `summary`)")
    e.add_argument("out", help="the file: .parquet, .csv, .tsv or .jsonl")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        with main_guard("python -m uwe.data", debug=args.debug):
            if args.command == "fetch":
                for step in fetch(resolve_root(args.root)):
                    print("manual step:", step)
                return 0
            catalog = Catalog(args.root, args.cache_dir, not args.no_cache, args.skillmatch, args.allow_unknown,
                              args.esco_source)
            if args.command == "export-graph":
                check_format(args.out)  # before the graph is built
                graph = catalog.graph(args.name)
                print(f"wrote {len(graph.edges):,} pairs ({len(graph.left):,} x {len(graph.right):,} nodes) of "
                      f"{args.name} to {write_graph(graph, args.out)}")
                return 0
            sizes = summarize(catalog, progress=not args.json and sys.stderr.isatty())
            print(json.dumps(sizes, indent=1) if args.json else format_table(catalog, sizes))
            if not args.json:
                print(f"\ndata root: {catalog.root}\ncache: {catalog.cache_dir if catalog.use_cache else 'off'}")
            if catalog.unverified:
                print(f"UNVERIFIED: raw files that are not the known release: {', '.join(catalog.unverified)}",
                      file=sys.stderr)
    except SystemExit as stop:
        return stop.code
    return 0

if __name__ == "__main__":
    sys.exit(main())
