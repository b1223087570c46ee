"""``python -m uwe.data summary [--json]`` and ``python -m uwe.data fetch``."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from uwe.data.catalog import Catalog
from uwe.data.errors import DataError
from uwe.data.fetch import fetch
from uwe.data.root import resolve_root
from uwe.data.summary import format_table, summarize


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m uwe.data", description=__doc__)
    p.add_argument("--root", help="data root (default: $UWE_DATA_DIR, ./data, or ../shared/data)")
    p.add_argument("--cache-dir", help="built-object cache (default: $UWE_CACHE_DIR or ~/.cache/uwe)")
    p.add_argument("--no-cache", action="store_true", help="build from the raw files; write no cache")
    p.add_argument("--skillmatch", help="SkillMatch-1K CSV: adds the real skillmatch task")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="print the size of every task split and graph")
    s.add_argument("--json", action="store_true", help="machine-readable sizes")
    sub.add_parser("fetch", help="download the public data into the data root (needs the internet)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "fetch":
            for step in fetch(resolve_root(args.root)):
                print("manual step:", step)
            return 0
        catalog = Catalog(args.root, args.cache_dir, not args.no_cache, args.skillmatch)
        sizes = summarize(catalog, progress=not args.json and sys.stderr.isatty())
        print(json.dumps(sizes, indent=1) if args.json else format_table(catalog, sizes))
        if not args.json:
            print(f"\ndata root: {catalog.root}\ncache: {catalog.cache_dir if catalog.use_cache else 'off'}")
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
