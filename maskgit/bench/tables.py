"""Benchmarks: the course's FID tables, reference rows, and speed against this machine's peak.

  python -m maskgit.bench fid --test-dir DIR --out docs/bench          # tables + plots
  python -m maskgit.bench speed --out docs/bench                       # speed table
  python -m maskgit.bench studio --out docs/bench                      # the studio in a browser
  python -m maskgit.bench load --out docs/bench                        # many users at once

`fid` writes fid_results.json (and PNG plots) under --out; `speed` writes speed.json.
Both print a JSON object on their last line.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch

from ..checkpoint import weights_digests
from ..decoding import FINAL_STEP, FINAL_STEP_HELP, UNDECIDED
from ..errors import MaskGITError
from ..evaluate import check_batch_size, run_reconstruction, to_uint8
from ..fid import FID_PRECISIONS, fid
from ..masks import paste_back
from ..pipeline import FILLS, load
from ..runtime import reuse_freed_memory
from ..schedules import SCHEDULES
from ..testset import load_test_folder

COURSE_SCHEDULES = {"cosine": 32.93, "linear": 34.01, "square": 34.00, "cubic": 34.52}
COURSE_SWEET = {(8, 8): 33.82, (10, 10): 32.93, (12, 12): 32.97, (8, 20): 34.23, (10, 20): 33.18, (12, 20): 34.62}


# -- FID tables -----------------------------------------------------------------------------
def inpaint_at_steps(model, masked, holes, schedule, total_iter, sweet_spots, args):
    """One decoding run per batch up to max(sweet_spots); the prediction at every requested
    step is decoded (a sweet spot s < total is the same run stopped at s, so it is shared)."""
    wanted = sorted(set(sweet_spots))
    out = {s: ([], []) for s in wanted}
    for i in range(0, len(masked), args.batch_size):
        images, hole = model.to_batch(masked[i:i + args.batch_size], holes[i:i + args.batch_size])
        for record in model.inpaint_steps(images, hole, schedule=schedule, total_iter=total_iter,
                                          sweet_spot=wanted[-1], seed=args.seed + i, decode="none",
                                          choice_temperature=args.choice_temperature, fill=args.fill,
                                          undecided=args.undecided, final_step=args.final_step):
            if record.step in out:
                decoded = model.decode(record.tokens.flatten(1))
                out[record.step][0].append(to_uint8(decoded))
                out[record.step][1].append(to_uint8(paste_back(decoded, images, hole)))
    return {s: (np.concatenate(d), np.concatenate(c)) for s, (d, c) in out.items()}


def telea(masked, holes):
    try:
        import cv2
    except ImportError:
        return None
    return np.stack([cv2.inpaint(np.ascontiguousarray(m), h.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
                     for m, h in zip(masked, holes)])


# What a report's rows depend on besides the faces: rows merge only when all of these agree.
# Each batch draws from seed + its first index, so the batch size is a setting too.
REPORT_SETTINGS = ("checkpoints", "n_images", "fid_precision", "seed", "choice_temperature", "fill", "final_step",
                   "batch_size")
# What reports made before a setting was recorded used: they drew the last step, in batches of 64.
LEGACY_SETTINGS = {"final_step": "sample", "batch_size": 64}
# Rows decoded since session 23's fix of the schedule's floor (maskgit.schedules) say so; a report
# that holds any older row does not.
FLOOR_FIXED = "schedule_floor_fixed"
REPORT_TABLES = ("reference", "schedules", "sweet_spot_table", "curve")


def report_setting(report, key):
    """A report's setting, or what reports made before it was recorded used."""
    return report.get(key, LEGACY_SETTINGS.get(key))


def merged_results(args, fresh):
    """The results already in --out (a finished or an interrupted run), to add rows to:
    the settings must be the same."""
    candidates = [os.path.join(args.out or "", f) for f in ("fid_results.json", "fid_results.partial.json")]
    path = next((p for p in candidates if args.out and os.path.exists(p)), None)
    if path is None:
        raise MaskGITError(f"--merge needs an earlier {candidates[0]} (give --out)")
    with open(path) as fh:
        old = json.load(fh)
    for key in REPORT_SETTINGS:
        was = report_setting(old, key)
        if key == "checkpoints" and was is None:
            raise MaskGITError(f"--merge: {path} does not record the weights it was made with; "
                               "rerun its rows without --merge")
        if was != fresh[key]:
            raise MaskGITError(f"--merge: {path} was made with {key}={was!r}, this run has {fresh[key]!r}")
    merged = {**fresh, **{k: v for k, v in old.items() if k != "seconds"}}
    if not old.get(FLOOR_FIXED):  # its rows were decoded before the fix
        merged.pop(FLOOR_FIXED, None)
    return merged


def ten_ten_cell(cosine_row):
    """The sweet-spot table's (10, 10) cell is the schedule table's cosine row."""
    return dict(cosine_row, course_fid=COURSE_SWEET[(10, 10)])


def _add_row(table, row, value, where):
    if row in table and table[row] != value:
        raise MaskGITError(f"{where} row {row!r} differs between the reports: {table[row]} and {value}")
    table[row] = value


def combine_reports(reports):
    """One report from several made with the same settings and weights, each holding some of
    the rows (e.g. two one-thread processes side by side: about 1.3 times the throughput of
    one two-thread process on this CPU). A row in two reports must have the same numbers."""
    if not reports:
        raise MaskGITError("nothing to combine")
    first = reports[0]
    combined = {key: report_setting(first, key) for key in REPORT_SETTINGS}
    if all(report.get(FLOOR_FIXED) for report in reports):
        combined[FLOOR_FIXED] = True
    combined.update({table: {} for table in REPORT_TABLES})
    for report in reports:
        for key in REPORT_SETTINGS:
            if report_setting(report, key) != combined[key]:
                raise MaskGITError(f"cannot combine reports made with {key}={combined[key]!r} "
                                   f"and {key}={report_setting(report, key)!r}")
        if report.get("curve"):
            n = combined.setdefault("curve_images", report.get("curve_images"))
            if report.get("curve_images") != n:
                raise MaskGITError(f"the curves used {n} and {report.get('curve_images')} faces")
        for table in REPORT_TABLES:
            for row, value in report.get(table, {}).items():
                if table == "curve":  # one schedule's points may come from several reports
                    for total, point in value.items():
                        _add_row(combined["curve"].setdefault(row, {}), total, point, f"curve {row}")
                else:
                    _add_row(combined[table], row, value, table)
    cosine = combined["schedules"].get("cosine")
    if combined["sweet_spot_table"] and cosine and "10,10" not in combined["sweet_spot_table"]:
        combined["sweet_spot_table"]["10,10"] = ten_ten_cell(cosine)
    return combined


def run_fid(args):
    check_batch_size(args.batch_size)
    masked, truth, holes, _ = load_test_folder(args.test_dir, args.limit)
    model = load(args.checkpoints, device=args.device)
    score = lambda images: round(fid(images, truth, precision=args.fid_precision), 2)  # noqa: E731
    results = {"checkpoints": weights_digests(args.checkpoints), "n_images": len(truth),
               "fid_precision": args.fid_precision, "seed": args.seed,
               "choice_temperature": args.choice_temperature, "fill": args.fill, "final_step": args.final_step,
               "batch_size": args.batch_size, FLOOR_FIXED: True,
               "reference": {}, "schedules": {},
               "sweet_spot_table": {}, "curve": {}}
    if args.merge:
        results = merged_results(args, results)
    def log(*a):
        print(*a, file=sys.stderr, flush=True)
        if args.out:  # keep partial results: the whole report takes about an hour here
            os.makedirs(args.out, exist_ok=True)
            with open(os.path.join(args.out, "fid_results.partial.json"), "w") as fh:
                json.dump(results, fh, indent=2)

    t = time.time()
    reference = results["reference"]
    if "gray_fill" not in reference:
        reference["gray_fill"] = score(masked)
    t_telea = None if "opencv_telea" in reference else telea(masked, holes)
    if t_telea is not None:
        reference["opencv_telea"] = score(t_telea)
    if "vqgan_reconstruction" not in reference:
        reference["vqgan_reconstruction"] = score(run_reconstruction(model, truth, args.batch_size))
    log("reference rows", reference, f"{time.time() - t:.0f}s")

    for name in args.schedules:
        t = time.time()
        runs = inpaint_at_steps(model, masked, holes, name, 10, [10], args)
        dec, comp = runs[10]
        results["schedules"][name] = {"fid": score(dec), "fid_composited": score(comp),
                                      "course_fid": COURSE_SCHEDULES.get(name)}
        log(name, results["schedules"][name], f"{time.time() - t:.0f}s")

    if not args.skip_sweet:
        table = results["sweet_spot_table"]
        if "cosine" in results["schedules"]:  # the (10, 10) cell is the cosine row
            table["10,10"] = ten_ten_cell(results["schedules"]["cosine"])
        for total in args.sweet_totals:
            # the course's cells: (8, 8), (12, 12), and (8, 20), (10, 20), (12, 20) from one run
            sweets = [s for s, tot in COURSE_SWEET if tot == total and (s, tot) != (10, 10)]
            if not sweets:
                continue
            t = time.time()
            runs = inpaint_at_steps(model, masked, holes, "cosine", total, sweets, args)
            for s, (dec, comp) in runs.items():
                table[f"{s},{total}"] = {"fid": score(dec), "fid_composited": score(comp),
                                         "course_fid": COURSE_SWEET[(s, total)]}
                if s < total:  # tokens still masked at the sweet spot are shown this way
                    table[f"{s},{total}"]["undecided"] = args.undecided
                log(f"cosine ({s},{total})", table[f"{s},{total}"], f"{time.time() - t:.0f}s")

    if args.curve_totals:
        # FID vs total iterations (sweet spot = total), like the MaskGIT paper's ablation: one
        # decoding run per point, so it may use the first --curve-limit faces only.
        n = min(args.curve_limit, len(truth))
        if results.get("curve") and results.get("curve_images", n) != n:
            raise MaskGITError(f"--merge: the curve in --out used {results['curve_images']} faces, "
                               f"this run --curve-limit {n}")
        results["curve_images"] = n
        for name in args.curve_schedules:
            for total in args.curve_totals:
                t = time.time()
                dec, _ = inpaint_at_steps(model, masked[:n], holes[:n], name, total, [total], args)[total]
                results["curve"].setdefault(name, {})[str(total)] = round(
                    fid(dec, truth[:n], precision=args.fid_precision), 2)
                log("curve", name, total, results["curve"][name][str(total)], f"{time.time() - t:.0f}s")
    return results


def plot_results(results, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = np.linspace(0, 1, 200)
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=110)
    for name, gamma in SCHEDULES.items():
        ax.plot(r, gamma(r), label=name)
    ax.set_xlabel("r = step / total iterations"); ax.set_ylabel("gamma(r): fraction still masked")
    ax.legend(fontsize=7); ax.grid(alpha=0.3); fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "schedules.png")); plt.close(fig)
    if results.get("curve"):
        fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=110)
        for name, points in results["curve"].items():
            totals = sorted(int(k) for k in points)
            ax.plot(totals, [points[str(k)] for k in totals], "o-", label=name)
        ax.set_xlabel("total iterations (sweet spot = total)")
        ax.set_ylabel(f"FID, decoded ({results.get('curve_images')} faces)")
        ax.set_xticks(sorted({int(k) for points in results["curve"].values() for k in points}))
        ax.legend(fontsize=7); ax.grid(alpha=0.3); fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "fid_vs_iterations.png")); plt.close(fig)


# -- speed ----------------------------------------------------------------------------------
def timeit(fn, repeat=5, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return float(np.median(times))


def matmul_peak(dtype, n=2048):
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / timeit(lambda: a @ b, repeat=10) / 1e9


def conv_flops(module, x):
    """FLOPs (2 x multiply-adds) of the Conv2d/Linear layers for input x, counted with hooks."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            total[0] += 2 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            total[0] += 2 * out.numel() * m.in_features
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        module(x)
    for h in handles:
        h.remove()
    return total[0]


def run_speed(args):
    torch.manual_seed(0)
    model = load(args.checkpoints, device="cpu")
    res = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
           "threads": torch.get_num_threads()}
    res["peak_gflops_fp32"] = round(matmul_peak(torch.float32), 1)
    res["peak_gflops_bf16"] = round(matmul_peak(torch.bfloat16), 1)
    peak = res["peak_gflops_bf16"]
    tr, vq = model.transformer, model.vqgan
    tr_flops = tr.flops_per_forward()
    dec_flops = conv_flops(vq.decoder, torch.zeros(1, len(vq.config.fsq_levels), 16, 16))
    enc_flops = conv_flops(vq.encoder, torch.zeros(1, 3, 64, 64))
    res["gflop"] = {"transformer_forward": round(tr_flops / 1e9, 2), "vqgan_decode": round(dec_flops / 1e9, 2),
                    "vqgan_encode": round(enc_flops / 1e9, 2)}
    for b in (1, 4):
        tokens = torch.randint(0, 1000, (b, 256))
        sec = timeit(lambda: model._logits(tokens))
        res[f"transformer_forward_b{b}_ms"] = round(sec * 1000, 1)
        res[f"transformer_forward_b{b}_frac_peak"] = round(b * tr_flops / sec / 1e9 / peak, 3)
        ids = torch.randint(0, 1000, (b, 256))
        sec = timeit(lambda: model.decode(ids))
        res[f"vqgan_decode_b{b}_ms"] = round(sec * 1000, 1)
        res[f"vqgan_decode_b{b}_frac_peak"] = round(b * dec_flops / sec / 1e9 / peak, 3)

    face = np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    hole = np.zeros((64, 64), bool); hole[16:48, 16:48] = True

    def first_step():
        next(iter(model.inpaint_steps(face, hole, sweet_spot=10, total_iter=10)))
    res["first_step_ms"] = round(timeit(first_step, repeat=5) * 1000, 1)
    res["inpaint_10_steps_ms"] = round(timeit(lambda: list(model.inpaint_steps(face, hole)), repeat=3) * 1000, 1)
    schedules = ["cosine", "linear", "square", "cubic"]
    res["compare_4_schedules_10_steps_ms"] = round(timeit(lambda: list(model.inpaint_steps(
        np.repeat(face[None], 4, 0), np.repeat(hole[None], 4, 0), schedule=schedules)), repeat=3) * 1000, 1)
    # Batched evaluation throughput (decode only at the end, as `evaluate` does).
    b = 32
    faces, holes = np.repeat(face[None], b, 0), np.repeat(hole[None], b, 0)
    sec = timeit(lambda: model.inpaint(faces, holes), repeat=2, warmup=1)
    flops = b * (10 * tr_flops + enc_flops + dec_flops)
    res["eval_inpaint_img_per_s"] = round(b / sec, 2)
    res["eval_inpaint_frac_peak"] = round(flops / sec / 1e9 / peak, 3)
    res.update(train_speed(model, peak, tr_flops, enc_flops, dec_flops))
    return res


def train_speed(model, peak, tr_flops, enc_flops, dec_flops):
    """Images/s of one optimizer step of each stage at the default batch sizes (bf16 autocast)."""
    from .training.masking import sample_training_mask
    out = {}
    tr = model.transformer.train()
    opt = torch.optim.AdamW(tr.parameters(), lr=1e-5)
    tokens = torch.randint(0, 1000, (32, 256))

    def tr_step():
        mask = sample_training_mask(32, 16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = tr(torch.where(mask, torch.full_like(tokens, 1000), tokens))
            loss = torch.nn.functional.cross_entropy(logits[mask].float(), tokens[mask])
        opt.zero_grad(); loss.backward(); opt.step()
    sec = timeit(tr_step, repeat=3, warmup=1)
    out["train_transformer_img_per_s"] = round(32 / sec, 1)
    out["train_transformer_frac_peak"] = round(3 * 32 * tr_flops / sec / 1e9 / peak, 3)
    vq = model.vqgan.train()
    opt = torch.optim.Adam(vq.parameters(), lr=1e-6)
    x = torch.rand(32, 3, 64, 64) * 2 - 1

    def vq_step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = (vq(x).float() - x).abs().mean()
        opt.zero_grad(); loss.backward(); opt.step()
    sec = timeit(vq_step, repeat=3, warmup=1)
    out["train_vqgan_img_per_s"] = round(32 / sec, 1)
    out["train_vqgan_frac_peak"] = round(3 * 32 * (enc_flops + dec_flops) / sec / 1e9 / peak, 3)
    model.transformer.eval(); model.vqgan.eval()
    return out


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fid")
    f.add_argument("--test-dir", required=True)
    f.add_argument("--schedules", nargs="*", default=list(SCHEDULES),
                   help="rows of the schedule table (none: only the other tables)")
    f.add_argument("--skip-sweet", action="store_true", help="skip the (sweet spot, total) table")
    f.add_argument("--sweet-totals", type=int, nargs="+", default=[8, 12, 20],
                   help="schedule lengths of the (sweet spot, total) table to run (the course's: 8 12 20)")
    f.add_argument("--curve-totals", type=int, nargs="*", default=[],
                   help="total iterations for the FID-vs-iterations plot, e.g. 1 2 4 6 8 10 12 16 20")
    f.add_argument("--curve-schedules", nargs="+", default=list(COURSE_SCHEDULES), choices=list(SCHEDULES),
                   help="schedules drawn in the FID-vs-iterations plot")
    f.add_argument("--curve-limit", type=int, default=747, help="faces used for the curve (the first N)")
    f.add_argument("--limit", type=int)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--choice-temperature", type=float, default=4.5)
    f.add_argument("--fill", default=FILLS[0], choices=FILLS,
                   help="what the encoder sees in the hole (gray = the course's behaviour)")
    f.add_argument("--undecided", default=UNDECIDED[0], choices=UNDECIDED,
                   help="a sweet spot before the end shows still-masked tokens as the most likely token "
                        "(mode) or as a draw (sample, this project's behaviour before session 8)")
    f.add_argument("--final-step", default=FINAL_STEP[0], choices=FINAL_STEP,
                   help=FINAL_STEP_HELP)
    f.add_argument("--batch-size", type=int, default=64)
    f.add_argument("--fid-precision", default="fp32", choices=FID_PRECISIONS)
    f.add_argument("--merge", action="store_true",
                   help="add this run's rows to the fid_results.json already in --out (same settings; "
                        "reference rows already there are not recomputed)")
    s = sub.add_parser("speed")
    st = sub.add_parser("studio", help="the studio in headless Chromium against the model alone")
    st.add_argument("--runs", type=int, default=5, help="runs per case (medians)")
    ld = sub.add_parser("load", help="many users streaming at once through gradio_client")
    ld.add_argument("--users", type=int, nargs="+", default=[1, 4, 8, 16], help="simultaneous users, one row each")
    ld.add_argument("--concurrency", type=int, default=16, help="the studio's model runs at once (1: one at a time)")
    for q in (f, s, st, ld):
        q.add_argument("--checkpoints", default="checkpoints")
        q.add_argument("--out", help="folder for the JSON results (and plots)")
    f.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    return p.parse_args(argv)


def run_studio(args):
    from .studio import report, run_studio as run
    results = run(args)
    print(report(results), file=sys.stderr)
    return results


def run_load(args):
    from .load import report, run_load as run
    results = run(args)
    print(report(results), file=sys.stderr)
    return results


RUNS = {"fid": run_fid, "speed": run_speed, "studio": run_studio, "load": run_load}
OUT_NAMES = {"fid": "fid_results"}


def main(argv=None):
    args = parse(argv)
    try:
        start = time.time()
        results = RUNS[args.what](args)
        results["seconds"] = round(time.time() - start, 1)
    except MaskGITError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, f"{OUT_NAMES.get(args.what, args.what)}.json"), "w") as fh:
            json.dump(results, fh, indent=2)
        if args.what == "fid":
            plot_results(results, args.out)
            partial = os.path.join(args.out, "fid_results.partial.json")
            if os.path.exists(partial):  # the finished report supersedes it
                os.remove(partial)
    print(json.dumps(results))
    return 0
