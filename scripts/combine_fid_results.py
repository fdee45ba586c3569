"""Combine partial FID reports (same weights and settings) into docs/bench/fid_results.json.

  python scripts/combine_fid_results.py /tmp/bench-a /tmp/bench-b --out docs/bench

Each input is a folder holding a fid_results.json written by `python -m maskgit.bench fid`
(scripts/rerun_benchmarks.sh makes them). If --out already holds a report made with other
weights, it becomes fid_results_previous.json (docs/benchmarks.md's before/after column).
The plots are redrawn from the combined report.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from maskgit.bench import combine_reports, plot_results  # noqa: E402
from maskgit.errors import MaskGITError  # noqa: E402


def read_report(folder):
    path = os.path.join(folder, "fid_results.json")
    if not os.path.exists(path):
        raise MaskGITError(f"{path} not found (did that benchmark run finish?)")
    with open(path) as fh:
        return json.load(fh)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("parts", nargs="+", help="folders with a fid_results.json each")
    p.add_argument("--out", default="docs/bench")
    args = p.parse_args(argv)
    try:
        combined = combine_reports([read_report(folder) for folder in args.parts])
    except MaskGITError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    current = os.path.join(args.out, "fid_results.json")
    if os.path.exists(current):
        with open(current) as fh:
            released = json.load(fh)
        if released.get("checkpoints") != combined["checkpoints"]:
            os.replace(current, os.path.join(args.out, "fid_results_previous.json"))
            print(f"kept the previous weights' report as {args.out}/fid_results_previous.json")
    with open(current, "w") as fh:
        json.dump(combined, fh, indent=2)
    plot_results(combined, args.out)
    print(f"wrote {current}: {len(combined['schedules'])} schedules, "
          f"{len(combined['sweet_spot_table'])} sweet-spot cells, {len(combined['curve'])} curves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
