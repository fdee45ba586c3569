"""Benchmarks that print numbers: FID tables on a test folder, speed against this machine's
peak, and the studio's responsiveness.

  maskgit-bench fid --test-dir DIR --out docs/bench     # the course's tables, every decoder
  maskgit-bench speed --out docs/bench                  # models, a studio run, training steps
  maskgit-bench studio --out docs/bench                 # the studio in headless Chromium
  maskgit-bench load --out docs/bench                   # many streaming users at once
  maskgit-bench reliability --out docs/bench            # bad input, kills and load, one table
"""
import argparse
import json
import os
import sys
import time

from ..cli import ArgumentParser, add_decoding_flags, add_model_flags, reports_errors
from ..decoding import check_seed
from ..fid import FID_PRECISIONS
from ..pipeline import DECODERS
from ..runtime import reuse_freed_memory
from ..schedules import SCHEDULES
from .fid_tables import COURSE_SCHEDULES, COURSE_SWEET, FIDTables, telea

__all__ = ["COURSE_SCHEDULES", "COURSE_SWEET", "main", "telea"]


def fid_flags(f):
    f.add_argument("--test-dir", required=True)
    f.add_argument("--schedules", nargs="*", default=list(COURSE_SCHEDULES),
                   help=f"rows of the schedule table (of {', '.join(SCHEDULES)}; none: only the other tables)")
    f.add_argument("--skip-sweet", action="store_true", help="skip the (sweet spot, total) table")
    f.add_argument("--sweet-totals", type=int, nargs="+", default=[8, 12, 20],
                   help="schedule lengths of the (sweet spot, total) table to run (the course's: 8 12 20)")
    f.add_argument("--curve-totals", type=int, nargs="*", default=[],
                   help="total iterations for the FID-vs-iterations plot, e.g. 1 2 4 6 8 10 12 16 20")
    f.add_argument("--curve-schedules", nargs="+", default=list(COURSE_SCHEDULES), choices=list(SCHEDULES))
    f.add_argument("--curve-limit", type=int, default=747, help="faces used for the curve (the first N)")
    f.add_argument("--decoders", nargs="+", choices=DECODERS,
                   help="decoders scored from the same tokens (default: guided and tokens when there is a guide)")
    f.add_argument("--limit", type=int)
    f.add_argument("--batch-size", type=int, default=64)
    f.add_argument("--fid-precision", default="fp32", choices=FID_PRECISIONS)
    f.add_argument("--tokens-dir", help="keep each row's decoded tokens here, to rescore other decoders quickly")
    f.add_argument("--fresh", action="store_true", help="recompute every row (rows already in --out are kept "
                   "when the settings and weights match)")
    add_decoding_flags(f, schedule=False)


def parse(argv):
    p = ArgumentParser(prog="maskgit-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    fid_flags(sub.add_parser("fid", help="the course's FID tables on a test folder"))
    sub.add_parser("speed", help="speed of the models, a studio run and training steps")
    st = sub.add_parser("studio", help="the studio in headless Chromium against the model alone")
    st.add_argument("--runs", type=int, default=5, help="runs per case (medians)")
    ld = sub.add_parser("load", help="many users streaming at once through gradio_client")
    ld.add_argument("--users", type=int, nargs="+", default=[1, 4, 8, 16], help="simultaneous users, one row each")
    ld.add_argument("--concurrency", type=int, default=16, help="the studio's model runs at once (1: one at a time)")
    rl = sub.add_parser("reliability", help="bad-input catalogues, kill tests and load levels, in one table")
    rl.add_argument("--users", type=int, nargs="*", default=[1, 4, 8, 16],
                    help="load levels: simultaneous streaming users (none: skip the load)")
    rl.add_argument("--skip-cli", action="store_true", help="skip the command line's catalogue")
    for q in sub.choices.values():
        add_model_flags(q)
        q.add_argument("--out", help="folder for the JSON results (and plots)")
    return p.parse_args(argv)


def run_other(args):
    """speed, studio or load: each module has run_<what>(args) and, but speed, a printed report."""
    if args.what == "speed":
        from .speed import run_speed
        return run_speed(args)
    from importlib import import_module
    module = import_module(f".{args.what}", __name__)
    results = getattr(module, f"run_{args.what}")(args)
    print(module.report(results), file=sys.stderr)
    return results


@reports_errors
def main(argv=None):
    args = parse(argv)
    start = time.time()
    if args.what == "fid":
        check_seed(args.seed)  # before a report is written
        reuse_freed_memory()  # a batch job: Inception's large activations are reused, not re-faulted
        results = FIDTables(args).run()
        if args.out:
            from .plots import plot_report
            plot_report(results, args.out)
    else:
        results = run_other(args)
        results["seconds"] = round(time.time() - start, 1)
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            with open(os.path.join(args.out, f"{args.what}.json"), "w") as fh:
                json.dump(results, fh, indent=2)
    print(json.dumps(results))
