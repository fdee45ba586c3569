"""How far the headline FID moves with the sampling seed alone (the test folder).

Every benchmark table is one decoding run (seed 0). This scores the same weights and settings
with more seeds (`python -m maskgit.evaluate`, default: cosine, sweet spot 10, total 10, fp32
Inception) and writes BENCH/fid_seeds.json; scripts/benchmarks_md.py shows the spread beside
the tables. Nothing is chosen from these runs: the reported numbers stay seed 0's.

  python scripts/seed_noise.py --test-dir ../shared/data/cat_face_test --seeds 0 1 2 3 4 --out docs/bench

Seeds already in the file for the same weights and settings are kept, so an interrupted run
goes on where it stopped; --import adds rows that `python -m maskgit.evaluate --json` printed
(its last line per file) for the same weights and settings. Rows of other weights, CPUs or
settings never mix: the file starts over (and says so).
"""
import argparse
import json
import os
import platform
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from maskgit import evaluate  # noqa: E402
from maskgit.bench import report_setting  # noqa: E402
from maskgit.checkpoint import save_json, weights_digests  # noqa: E402
from maskgit.errors import MaskGITError  # noqa: E402
from maskgit.runtime import reuse_freed_memory  # noqa: E402

# What a row depends on besides its seed (and the weights): rows differing here do not mix.
SETTINGS = ("n_images", "mode", "schedule", "sweet_spot", "total_iter", "choice_temperature", "fill",
            "final_step", "fid_precision", "batch_size")
SCORES = ("fid", "fid_composited")


def cpu_name():
    """The CPU's model name, and whether it has AMX: bf16 kernels, and so the draws, differ with it."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        name = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        return f"{name}{', AMX' if 'amx_bf16' in info else ''}, {os.cpu_count()} cores"
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def summary(rows):
    """Mean, sample standard deviation, min and max of each score over the seeds."""
    out = {}
    for key in SCORES:
        values = [r[key] for r in rows]
        out[key] = {"mean": round(statistics.fmean(values), 3),
                    "sd": round(statistics.stdev(values), 3) if len(values) > 1 else None,
                    "min": round(min(values), 3), "max": round(max(values), 3)}
    return out


def settings_of(result):
    """The settings a row was made with (rows from before one was recorded: its old default)."""
    return {k: report_setting(result, k) for k in SETTINGS}


def add_row(report, result):
    if report["settings"] is None:
        report["settings"] = settings_of(result)
    elif settings_of(result) != settings_of(report["settings"]):
        raise MaskGITError(f"seed {result.get('seed')} was run with {settings_of(result)}, "
                           f"the report has {settings_of(report['settings'])}")
    rows = [r for r in report["rows"] if r["seed"] != result["seed"]]
    rows.append({"seed": result["seed"], **{k: round(result[k], 3) for k in SCORES}})
    report["rows"] = sorted(rows, key=lambda r: r["seed"])
    report["summary"] = summary(report["rows"])


def read_json(path, what, last_line=False):
    """A JSON file, or its last line (`maskgit.evaluate --json` prints one object there)."""
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text.splitlines()[-1] if last_line else text)
    except (OSError, ValueError, IndexError) as e:
        raise MaskGITError(f"{path}: not a readable {what} ({e})") from None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--test-dir", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--out", default="docs/bench", help="folder for fid_seeds.json")
    p.add_argument("--import", dest="imports", nargs="*", default=[],
                   help="files whose last line is `python -m maskgit.evaluate --json` output")
    args, evaluate_flags = p.parse_known_args(argv)  # the rest goes to maskgit.evaluate
    path = os.path.join(args.out, "fid_seeds.json")
    base = ["--test-dir", args.test_dir, "--checkpoints", args.checkpoints, "--quiet"] + evaluate_flags
    try:
        parsed = evaluate.parse(base)
        if parsed.recon:
            raise MaskGITError("seed noise is measured on inpainting runs, not --recon")
        wanted = {k: v for k, v in settings_of({**vars(parsed), "mode": "inpaint"}).items()
                  if k != "n_images"}  # n_images is known once the folder is read
        try:
            weights = weights_digests(args.checkpoints)
        except OSError as e:
            raise MaskGITError(f"{args.checkpoints}: no weights to measure ({e})") from None
        report = {"weights": weights, "cpu": cpu_name(), "settings": None, "rows": []}
        if os.path.exists(path):
            earlier = read_json(path, "report")
            mismatch = [k for k in ("weights", "cpu") if earlier.get(k) != report[k]] + [
                k for k, v in wanted.items() if settings_of(earlier.get("settings") or {})[k] != v]
            if mismatch:  # rows of other weights, CPUs or settings do not mix
                print(f"{path}: other {', '.join(mismatch)}; starting over")
            else:
                report.update(earlier)
        for name in args.imports:
            result = read_json(name, "maskgit.evaluate --json output", last_line=True)
            if result.get("weights") != weights:
                raise MaskGITError(f"{name}: made with weights {result.get('weights')}, not those in "
                                   f"{args.checkpoints} ({weights})")
            if any(settings_of(result)[k] != v for k, v in wanted.items()):
                raise MaskGITError(f"seed {result.get('seed')} was run with {settings_of(result)}, "
                                   f"this run asks for {wanted}")
            add_row(report, result)
        os.makedirs(args.out, exist_ok=True)
        done = {r["seed"] for r in report["rows"]}
        for seed in args.seeds:
            if seed in done:
                print(f"seed {seed}: already in {path}")
                continue
            result = evaluate.score(evaluate.parse(base + ["--seed", str(seed)]))
            add_row(report, result)
            save_json(report, path)  # after each seed (atomically), so an interrupted run keeps what it did
            print(f"seed {seed}: fid {result['fid']:.2f}, fid_composited {result['fid_composited']:.2f}", flush=True)
    except MaskGITError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not report["rows"]:
        print("error: no seeds run", file=sys.stderr)
        return 2
    save_json(report, path)
    print(json.dumps(report["summary"]))
    return 0


if __name__ == "__main__":
    reuse_freed_memory()
    sys.exit(main())
