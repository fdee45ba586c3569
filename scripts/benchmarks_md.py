"""docs/benchmarks.md from the JSON the benchmark commands wrote (docs/bench/*.json).

  python scripts/benchmarks_md.py --bench docs/bench --out docs/benchmarks.md
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from maskgit.bench import COURSE_SCHEDULES, COURSE_SWEET, FLOOR_FIXED  # noqa: E402
from maskgit.decoding import FINAL_STEP  # noqa: E402
from maskgit.schedules import SCHEDULES  # noqa: E402


def load(folder, name):
    for candidate in (name, name.replace(".json", ".partial.json")):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f), candidate
    return None, None


COURSE_CELLS = sorted(COURSE_SWEET, key=lambda c: (c[1], c[0]))


def fmt(v):
    return "–" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


# What the curve says (all seven schedules measured by session 10, the last step drawn).
CURVE_NOTES_DRAWN = [
    "T=1 is the same point for every schedule (one step decides all tokens). Few steps favour",
    "the schedules that decide many tokens early (linear, then cosine); the ones that keep most",
    "tokens masked until late (square, cubic) start worse and catch up by T=8. From T=8 on the",
    "four course schedules lie within about 3 FID of each other, inside the noise of 256",
    "faces, and no schedule wins everywhere; the lowest points are at T=16-20. Of the",
    "library's extra schedules, which all decide most tokens in the first steps, sqrt flattens",
    "out higher (about 62 from T=8); log and exp stay level with cosine and linear up to T=16",
    "and end about 62 at T=20, a rise of 2-3 that is within the same noise. Unlike the",
    "MaskGIT paper (ImageNet 256x256), no schedule shows a clear optimum at a moderate T.",
]

# What the curve with the most likely tokens at the last step says (session 11).
CURVE_NOTES_MODE = [
    "With the last step's tokens the most likely ones, one step (T=1: every hole token takes",
    "its most likely value at once, the same for every seed) already scores 58.9, where one",
    "step of draws scored 79.6. From there the curves are flat within the noise of 256 faces",
    "(about 56-62 for every schedule and T measured): for these checkpoints FID no longer",
    "rewards more iterations. With draws it did, from 79.6 at T=1 to about 60 by T=8, because",
    "each draw at a later step is conditioned on more decided neighbours. What the iterations",
    "still give, different fills for different seeds, is not what FID measures.",
]

# The notes above were written from the curves of the first release's weights: each is shown
# only beside a curve of the weights and decoding it describes.
FIRST_WEIGHTS = ("0d72a50e59ea0192", "10ebf7993ce2b536")

# The cosine curve of session 13's weights (session 12's decoder, the transformer continued).
CURVE_NOTES_S13 = [
    "With session 13's weights every point lies 12-19 below the previous weights' (same faces,",
    "seed and decoding). The cosine curve starts at 45.5 (T=1), is 42.5-43.3 from T=4 to T=16",
    "and 44.1 at T=20: iterating gains about 3 over one step, and beyond T=4 the points lie",
    "within the noise of 256 faces. The linear curve lies within 1.7 of cosine's at every T.",
    "As with the previous weights, no schedule shows the clear optimum at a moderate",
    "T that the MaskGIT paper found on ImageNet.",
]
# The curves of session 15's weights (the decoder and the transformer continued on one H200).
CURVE_NOTES_S15 = [
    "With session 15's weights the cosine curve lies 0.9-3.1 below session 13's at every T",
    "(same faces, seed and decoding): 43.4 at T=1, then 41.0-41.9 from T=4 to T=20. Iterating",
    "gains about 2 over one step, and beyond T=4 the points lie within the noise of 256 faces.",
    "The linear curve lies 1.5-2.8 below its session-13 curve and within 1.7 of cosine's at",
    "every T (40.9-43.0 from T=2 on).",
    "Square and cubic were added in session 17, on another CPU (an Intel Xeon with AMX; cosine",
    "and linear on an AMD EPYC): T=1, the same decoding for every",
    "schedule, reads 43.38 on the Xeon against 43.35 on the EPYC, and other points can differ by a",
    "seed's worth (docs/training.md, session 16). Square is 40.5-42.0 from T=2 on, its lowest",
    "40.47 at T=12; cubic 40.5-42.6, its lowest 40.47 at T=20. From T=4 on the four course",
    "schedules lie within 40.5-43.0, inside the noise of 256 faces, and no schedule wins at every T.",
    "No schedule shows the clear optimum at a moderate T that the MaskGIT paper found on ImageNet.",
]
# The curves of session 18's weights (session 17's feature-matching decoder, continued; the same
# transformer as session 15's); all four ran on an Intel Xeon.
CURVE_NOTES_S18 = [
    "With session 18's weights (only the decoder differs from session 15's) every point lies",
    "2.8-5.1 below session 15's curves (same faces, seed and decoding): 40.2 at T=1, then 36.3-38.3",
    "for every course schedule from T=4 to T=20. Iterating gains 2-4 over one step, and from T=4 on",
    "the four schedules lie within about 2 of each other, inside the noise of 256 faces; none wins",
    "at every T. No schedule shows the clear optimum at a moderate T that the MaskGIT paper found",
    "on ImageNet.",
]
# The curves of session 19's weights (the same feature-matching decoder, 1,200 steps further).
CURVE_NOTES_S19 = [
    "With session 19's weights (only the decoder differs from session 18's) every point lies",
    "0.6-1.3 below session 18's curves (same faces, seed and decoding): 39.1 at T=1, then 35.6-37.2",
    "for every course schedule from T=4 to T=20. Iterating gains 1.9-3.6 over one step, and from T=4 on",
    "the four schedules lie within 1.7 of each other at each T, inside the noise of 256 faces; none",
    "wins at every T. No schedule shows the clear optimum at a moderate T that the MaskGIT paper",
    "found on ImageNet.",
]
# Session 20's curves: the decoder 663 CPU steps further, the transformer 3,254 H200 steps further.
CURVE_NOTES_S20 = [
    "With session 20's weights (both models continued) the curves moved down again: T=1 (one",
    "measurement for all four schedules) reads 37.7, against 39.1 with session 19's weights, and of",
    "the 24 points from T=2 on, 19 lie lower than session 19's (by up to 1.8) and 5 higher (by",
    "0.1-0.6), 0.5 lower on average. From T=4 on, every course schedule lies between 35.4 and 37.0,",
    "0.7-2.3 below one step (1.9-3.6 with session 19's weights: the one-step result gained most), and",
    "the four schedules lie within 1.5 of each other at each T; none wins at every T. Still no",
    "schedule shows the clear optimum at a moderate T that the MaskGIT paper found on ImageNet.",
]
CURVE_NOTES = {(*FIRST_WEIGHTS, "sample"): CURVE_NOTES_DRAWN, (*FIRST_WEIGHTS, "mode"): CURVE_NOTES_MODE,
               ("9b86a93b82bd820d", "54001123f8341112", "mode"): CURVE_NOTES_S13,
               ("64c63b8cbe5c09bc", "003e0cdad2ebb798", "mode"): CURVE_NOTES_S15,
               ("572042c2f8d74c94", "003e0cdad2ebb798", "mode"): CURVE_NOTES_S18,
               ("6895d5dd8045e44b", "003e0cdad2ebb798", "mode"): CURVE_NOTES_S19,
               ("cccb0ec688db018b", "c7fe2c1c32ebdab3", "mode"): CURVE_NOTES_S20}


def curve_notes(report):
    weights = report.get("checkpoints", {})
    return CURVE_NOTES.get((weights.get("vqgan"), weights.get("transformer"), report.get("final_step", "sample")))


# What the measurements above say, kept beside the tables they explain (session 10).
INCEPTION_NOTES = [
    "The library runs the rebuilt network (`maskgit/inception.py`): the TorchScript file's",
    "weights with each batch norm folded into its convolution, the 1x1 convolutions that read",
    "a block's input merged into one, and the 3x3 average pools moved after their 1x1",
    "convolutions (both linear). Its features equal the TorchScript network's to float",
    "rounding and the gray-fill FID is the same to three decimals. `torch.compile` adds",
    "nothing worth a 20 s compile; oneDNN's fp32 math-mode switch changes nothing here.",
    "",
    "Memory, not arithmetic, was the last fp32 loss. By default glibc gives every allocation",
    "above its mmap threshold (at most 32 MiB) fresh pages and returns them on free, so each",
    "large activation pays a page fault per 4 KiB when first written; at batch 50 Inception",
    "makes tensors of up to 280 MB. The commands that compute FID (`maskgit.evaluate`,",
    "`maskgit.bench fid` and these scripts) now keep freed memory in a heap that is trimmed",
    "only past 2 GiB (`maskgit/runtime.py`; results unchanged, tested). The row \"glibc's",
    "default allocator\" is the used pass before that switch, in the same run; every other",
    "row runs after it (so the TorchScript rows gained too). The fp32 pass now does",
    "190-196 GFLOP/s (11.4 GFLOP an image, counted from its convolutions, at the 16.8-17.2",
    "img/s measured here), above the 180 GFLOP/s of the fp32 matmul probe: little is left to",
    "gain in fp32 on this CPU (an AMD EPYC with AVX-512 BF16 and no AMX) short of a",
    "different convolution algorithm. `python -m maskgit.evaluate --test-dir",
    "../shared/data/cat_face_test --json` (fp32, truth statistics cached) printed",
    "`fid_seconds` 89.09, `inpaint_seconds` 421 (session 9: 112 s for the FID part); the",
    "margin under 90 s is small against this machine's run-to-run variation.",
    "",
    "bf16 and folded biases: folding a batch norm can leave a large bias that the",
    "convolution's sum nearly cancels (around -17 with outputs below 1 in a test layer), and",
    "bf16 autocast rounds the bias too, an error of up to 1/256 of it in every output of that",
    "channel. Measured in the last Inception block: rounding its biases alone shrank two of",
    "its branches by 0.6-0.7 %. A bf16 convolution now adds back the part of the bias that",
    "rounding dropped (what the unfolded network got by running batch norm in fp32; test: a",
    "33x smaller error on such a layer). Even so, the reduced precisions move FID by up to",
    "0.16-0.18 from fp32 on the sets above, in both directions: neither stays within the 0.1",
    "tolerance on every set (session 9's mixed, -0.098 at worst on five sets, was inside by",
    "luck). Reported numbers use fp32; `--fid-precision mixed` / `bf16` are for quick relative",
    "comparisons such as the validation experiments in docs/training.md.",
]


def tolerance_section(tol, outputs_drawn=False):
    """fid_tolerance.json: the same image sets scored in each precision."""
    precisions = [k for k in next(iter(tol["sets"].values())) if not k.endswith("_seconds")]
    lines = ["", f"Each faster precision against fp32 on the same images ({tol['n_images']} a set; the test "
             "folder's sets against its truth, the val sets against the val faces; `scripts/fid_tolerance.py`; "
             "truth statistics cached; seconds per set):", "",
             "| image set | " + " | ".join(precisions) + " |", "|---|" + "---|" * len(precisions)]
    for name, row in tol["sets"].items():
        cells = []
        for p in precisions:
            delta = "" if p == "fp32" else f" ({row[p] - row['fp32']:+.3f})"
            cells.append(f"{row[p]:.3f}{delta}, {row[p + '_seconds']:.0f} s")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    worst = {p: max(abs(row[p] - row["fp32"]) for row in tol["sets"].values()) for p in precisions if p != "fp32"}
    lines += ["", "Largest difference from fp32: " + ", ".join(f"{p} {v:.3f}" for p, v in worst.items())
              + " (tolerance 0.1)."]
    outputs = [row for name, row in tol["sets"].items() if name.startswith("cosine (10,10)")]
    if len(outputs) == 2:  # what an evaluation's FID part costs: decoded + composited
        lines += ["", "FID part of an evaluation (the two cosine rows): "
                  + ", ".join(f"{p} {sum(r[p + '_seconds'] for r in outputs):.1f} s" for p in precisions)
                  + " (target: under 90 s)."]
        if outputs_drawn:
            lines += ["", "The reconstruction and the two cosine (10,10) sets are session 10's outputs (the first "
                      "release's weights, the last step drawn); they measure Inception's precision, which "
                      "depends on neither the weights nor the decoding."]
    return lines


def inception_section(inception, tolerance=None, outputs_drawn=False):
    passes = inception["passes"]
    used_name = next(name for name in passes if name.endswith("(used)"))
    used = passes[used_name]["img_per_s"]
    lines = ["## The FID pass: speed against accuracy", "",
             "The FID part of one 747-face evaluation is 1,494 Inception passes (`fid` and `fid_composited`; "
             "truth statistics cached); the target is under 90 s, which needs 16.6 img/s plus the Fréchet "
             f"distances. The pass the library uses ran at {used} img/s in this measurement (the machine's "
             "speed varies by about 15 % between runs). "
             f"Measured on {inception['n_images']} val faces, {inception['threads']} threads, batch 50 "
             "(`scripts/bench_inception.py`); feature differences are relative to the first row:", "",
             "| Inception pass | img/s | features vs TorchScript fp32 (RMS, relative) |", "|---|---|---|"]
    for name, row in passes.items():
        lines.append(f"| {name} | {row['img_per_s']} | {row['feature_rms_rel']:.2g} |")
    g = inception.get("gray_fill_fid", {})
    if g:
        lines += ["", "FID of the gray-filled test inputs against the truth: "
                  + ", ".join(f"{k} {v}" for k, v in g.items()) + " (tolerance: 0.1 from fp32)."]
    if tolerance:
        lines += tolerance_section(tolerance, outputs_drawn)
    lines += ["", *INCEPTION_NOTES, "",
              "```bash", "python scripts/bench_inception.py --images ../shared/data/cat_face/val \\",
              "    --test-dir ../shared/data/cat_face_test --compile --out docs/bench",
              "python -m maskgit.evaluate --test-dir ../shared/data/cat_face_test --save-dir /tmp/eval_out --json",
              "python scripts/fid_tolerance.py --test-dir ../shared/data/cat_face_test --outputs /tmp/eval_out \\",
              "    --out docs/bench",
              "python scripts/fid_tolerance.py --val-dir ../shared/data/cat_face/val --merge --out docs/bench",
              "```", ""]
    return lines


def seed_section(seeds, fid):
    """fid_seeds.json: the headline cell scored with more seeds, shown when its weights are these."""
    if not seeds or not seeds.get("rows"):
        return []
    st = seeds["settings"]
    if seeds.get("weights") != fid.get("checkpoints"):
        return ["The seed-noise measurement in `fid_seeds.json` is from other weights and is not shown; "
                "`python scripts/seed_noise.py --test-dir ../shared/data/cat_face_test --seeds 0 1 2 3 4 "
                "--out docs/bench` measures these.", ""]
    lines = ["### How much of this is the seed", "",
             f"Every table here is one decoding run (seed {fid['seed']}). The {st['schedule']} "
             f"({st['sweet_spot']},{st['total_iter']}) cell scored again with other seeds, same weights, faces "
             f"and settings ({st['n_images']} faces, `{st['fid_precision']}` Inception; nothing is chosen from "
             f"these runs), on {seeds.get('cpu', 'an unrecorded CPU')}. Its seed {fid['seed']} need not equal the "
             "tables' when they were run on another CPU: bf16 matrix kernels can round differently from one "
             "CPU to another (AMX or not), which changes the draws, by about as much as another seed does.", "",
             "| seed | fid | fid_composited |", "|---|---|---|"]
    lines += [f"| {r['seed']} | {r['fid']:.2f} | {r['fid_composited']:.2f} |" for r in seeds["rows"]]
    sm = seeds["summary"]
    if len(seeds["rows"]) > 1:
        lines += ["", f"Over {len(seeds['rows'])} seeds: `fid` {sm['fid']['mean']:.2f} +- {sm['fid']['sd']:.2f} "
                  f"(sample standard deviation; {sm['fid']['min']:.2f}-{sm['fid']['max']:.2f}), `fid_composited` "
                  f"{sm['fid_composited']['mean']:.2f} +- {sm['fid_composited']['sd']:.2f} "
                  f"({sm['fid_composited']['min']:.2f}-{sm['fid_composited']['max']:.2f}). Differences between "
                  "rows of one table smaller than about twice the standard deviation are not resolved by a single seed."]
    lines += ["", "```bash",
              "python scripts/seed_noise.py --test-dir ../shared/data/cat_face_test --seeds 0 1 2 3 4 --out docs/bench",
              "```", ""]
    return lines


def studio_section(studio):
    """The studio in headless Chromium against the model alone (python -m maskgit.bench studio)."""
    if not studio or "inpaint" not in studio:
        return []
    rows = []
    for name, what in (("inpaint", "10-step inpaint"), ("compare", f"{len(studio['compare_schedules'])}-schedule compare")):
        r = studio[name]
        rows.append(f"| {what} | {r['model_first_ms']} / {r['model_last_ms']} | {r['click_to_first_ms']} / "
                    f"{r['click_to_last_ms']} | {r['server_last_ms']} | {r['last_ratio']:.2f}x |")
    return ["## Studio responsiveness (headless Chromium, 1366x768)", "",
            "| run | model alone: first / last step (ms) | page: click to first / last step shown (ms) | "
            "server: to last step (ms) | last step: page / model |", "|---|---|---|---|---|", *rows, "",
            f"On {studio.get('machine', 'this machine')} (1-minute load average {studio.get('load_average_1min', '?')} "
            "at the end, the benchmark included).",
            f"Medians of {studio['runs']} runs; each run in the page alternates with the same run of the model",
            "alone in the benchmark's process, so both see the same machine load. A step is shown when the",
            "status line says so and its pictures have loaded. Targets: the last step within 1.5x the model's",
            "time, the first within 0.3 s.", "", "```bash", "python -m maskgit.bench studio --out docs/bench", "```", ""]


def load_section(report):
    """Many streaming users at once (python -m maskgit.bench load)."""
    if not report:
        return []
    rows = [f"| {r['users']} | {r['first_median_s']} / {r['first_p95_s']} | {r['last_median_s']} / {r['last_p95_s']} | "
            f"{'yes' if r['all_complete'] else 'no'} |" for r in report["rows"]]
    return ["## Many users at once (gradio_client on the loopback)", "",
            f"Each user streams a {report['steps']}-step `/inpaint` of its own face, hole and seed; all start "
            f"together. The studio runs {report['concurrency']} model runs at once, sharing forward passes. On "
            f"{report.get('machine', 'this machine')} (1-minute load average {report.get('load_average_1min', '?')} "
            "at the end, the benchmark included).", "",
            "| users | first step: median / p95 (s) | last step: median / p95 (s) | all complete |",
            "|---|---|---|---|", *rows, "", "```bash", "python -m maskgit.bench load --out docs/bench", "```", ""]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bench", default="docs/bench")
    p.add_argument("--out", default="docs/benchmarks.md")
    args = p.parse_args()
    fid, fid_file = load(args.bench, "fid_results.json")
    speed, _ = load(args.bench, "speed.json")
    studio, _ = load(args.bench, "studio.json")
    load_report, _ = load(args.bench, "load.json")
    inception, _ = load(args.bench, "inception.json")
    lines = ["# Benchmarks", "",
             "Every number below is printed by a command of this repository, run on the shipped",
             "checkpoints on this project's machine: 2 CPU cores, 24 GiB, no GPU. Its CPU differs between",
             "sessions (an AMD EPYC with AVX-512 BF16, or an Intel Xeon with AMX): the FID tables of the",
             "shipped weights ran on the Xeon (session 20), the speed, Inception and studio timings on the",
             "EPYC (sessions 9-15; the weights do not change them). A section measured on earlier weights",
             "says so. Reproduce with the commands under each table.", ""]
    if fid:
        n = fid["n_images"]
        lines += ["## FID per mask schedule (sweet spot 10, total iterations 10)", "",
                  f"{n} test faces of `cat_face_test`, seed {fid['seed']}, choice temperature "
                  f"{fid['choice_temperature']}, hole fill seen by the encoder `{fid.get('fill', 'gray')}`, "
                  f"Inception in `{fid['fid_precision']}` precision "
                  "(see below). `fid`: decoded images vs truth (the course's protocol); "
                  "`fid_composited`: known pixels pasted back.", ""]
        if fid.get("checkpoints"):  # which weights: rows from other weights do not merge
            lines += ["Weights (first 16 hex digits of each file's SHA-1): " + ", ".join(
                f"`{name}.safetensors` {digest}" for name, digest in fid["checkpoints"].items()) + ".", ""]
        final_step = fid.get("final_step", "sample")  # reports older than the option drew
        # appended to every command below so that it reproduces (and merges into) this report
        flag = "" if final_step == FINAL_STEP[0] else f" --final-step {final_step}"
        if flag:
            lines += [f"The schedule's last step here: `--final-step {final_step}` (not the library's default, "
                      f"`{FINAL_STEP[0]}`).", ""]
        # a before/after column from an earlier release's report that differs in one thing only:
        # the decoding of the last step (fid_results_draws.json) or the weights (..._previous.json)
        settings = ("n_images", "seed", "choice_temperature", "fill", "fid_precision")
        drawn, _ = load(args.bench, "fid_results_draws.json")
        if not (drawn and all(drawn.get(k) == fid.get(k) for k in settings + ("checkpoints",))
                and final_step == "mode" and drawn.get("final_step", "sample") == "sample"):
            drawn = None
        previous, _ = load(args.bench, "fid_results_previous.json")
        if not (previous and not drawn and all(previous.get(k) == fid.get(k) for k in settings)
                and previous.get("final_step", "sample") == final_step
                and previous.get("checkpoints") and previous["checkpoints"] != fid.get("checkpoints")):
            previous = None
        before_report = drawn or previous
        if drawn:
            lines += ["The schedule's last step takes the model's most likely token for each token it decides "
                      "(`final_step=\"mode\"`, the default since session 11, chosen on validation faces: "
                      "docs/training.md). The last column is the previous release's decoding, which drew them "
                      "like the earlier steps (`--final-step sample`; same faces, seed and settings, "
                      "`fid_results_draws.json`).", ""]
        if previous:
            if final_step == "mode":
                lines += ["The schedule's last step takes the model's most likely token for each token it "
                          "decides (`final_step=\"mode\"`, the default since session 11).", ""]
            lines += ["The last column is the previous release's weights (" + ", ".join(
                f"`{name}.safetensors` {digest}" for name, digest in previous["checkpoints"].items())
                + "; same faces, seed and settings, `fid_results_previous.json`).", ""]
        before_label = "last step drawn" if drawn else "previous weights"
        extra_head = f" | {before_label}: fid / fid_composited |" if before_report else " |"
        lines += ["| schedule | fid (ours) | fid_composited (ours) | course fid" + extra_head,
                  "|---|---|---|---|" + ("---|" if before_report else "")]
        def before(row):
            return f" {fmt(row.get('fid'))} / {fmt(row.get('fid_composited'))} |" if before_report else ""
        rows = dict(fid["schedules"])
        evaluated, _ = load(args.bench, "evaluate_cosine_10_10.json")
        if "cosine" not in rows and evaluated and evaluated.get("final_step", "sample") == final_step:
            # same code path, printed by `maskgit.evaluate`
            rows = {"cosine": {"fid": round(evaluated["fid"], 2), "fid_composited": round(evaluated["fid_composited"], 2),
                               "course_fid": 32.93, "note": "from `python -m maskgit.evaluate`"}, **rows}
        for name, row in rows.items():
            note = f" ({row['note']})" if row.get("note") else ""
            lines.append(f"| {name}{note} | {fmt(row['fid'])} | {fmt(row['fid_composited'])} | {fmt(row.get('course_fid'))} |"
                         + before(before_report.get("schedules", {}).get(name, {}) if before_report else {}))
        floor_fix, _ = load(args.bench, "schedule_floor_fix.json")
        if floor_fix and not fid.get(FLOOR_FIXED):
            b, a = floor_fix["before_fix"], floor_fix["after_fix"]
            lines += ["", "These rows, and the curve's 12- and 20-step points of linear, square and cubic below, "
                      "were decoded before session 23 fixed how the schedule's count of tokens still masked is "
                      "floored (in floats, linear's 20 x (1 - 0.9) floored to 1, not 2). At 10 steps the fix "
                      "changes the count at some step for 142 of the 747 faces under linear, 25 under square, "
                      "5 under cubic and none under cosine, sqrt, log or exp. On the same machine and seed it "
                      f"moved linear from {b['fid']:.2f} / {b['fid_composited']:.2f} to "
                      f"{a['fid']:.2f} / {a['fid_composited']:.2f} (`schedule_floor_fix.json`; the table's own "
                      "row was decoded on another CPU), far inside one run's seed spread (below)."]
        not_run = [name for name in SCHEDULES if name not in rows]
        if not_run:
            lines += ["", f"Not run yet: {', '.join(not_run)} (add them with `--schedules {' '.join(not_run)} "
                      "--skip-sweet --merge`)."]
        lines += ["", "Reference rows, same FID code and images:", "",
                  "| reference | fid |" + (" previous weights |" if previous else ""),
                  "|---|---|" + ("---|" if previous else "")]
        names = {"gray_fill": "gray-filled input (`masked_image`)", "opencv_telea": "OpenCV Telea, radius 3",
                 "vqgan_reconstruction": "our tokenizer's reconstruction of the truth (floor of `fid`)"}
        for k, v in fid["reference"].items():
            lines.append(f"| {names.get(k, k)} | {fmt(v)} |"
                         + (f" {fmt(previous.get('reference', {}).get(k))} |" if previous else ""))
        if fid.get("sweet_spot_table"):
            lines += ["", "## FID per (sweet spot, total iterations), cosine", "",
                      "| (sweet spot, total) | fid (ours) | fid_composited (ours) | course fid" + extra_head,
                      "|---|---|---|---|" + ("---|" if before_report else "")]
            table = fid["sweet_spot_table"]
            for s, total in COURSE_CELLS:
                row = table.get(f"{s},{total}", {})
                lines.append(f"| ({s},{total}) | {fmt(row.get('fid'))} | {fmt(row.get('fid_composited'))} | "
                             f"{fmt(COURSE_SWEET[(s, total)])} |"
                             + before(before_report.get("sweet_spot_table", {}).get(f"{s},{total}", {})
                                      if before_report else {}))
            if drawn:
                early_cells = [f"{s},{t}" for s, t in COURSE_CELLS if s < t and f"{s},{t}" in table]
                same = all(table[c].get(k) == drawn.get("sweet_spot_table", {}).get(c, {}).get(k)
                           for c in early_cells for k in ("fid", "fid_composited"))
                lines += ["", "A sweet spot before the schedule's end never reaches its last step, so the (s, 20) "
                          "cells do not depend on it" + (" (rerun: the same to the last digit, so the decoding is "
                                                          "reproducible)." if early_cells and same else ".")]
            early = sorted({row["undecided"] for row in table.values() if row.get("undecided")})
            if early:
                lines += ["", "A sweet spot before the schedule's end leaves tokens still masked; the picture "
                          f"shows them as the model's {'most likely token' if early == ['mode'] else ' / '.join(early)} "
                          "(`undecided=\"mode\"`, the default since session 8; drawing them, the earlier "
                          "behaviour, is `--undecided sample`; docs/training.md compares the two)."]
            missing = [f"({s},{t})" for s, t in COURSE_CELLS if f"{s},{t}" not in table]
            if missing:
                lines += ["", f"Not run yet: {', '.join(missing)} (one cosine run of 20 steps serves all three; add "
                          "them with `--schedules --sweet-totals 20 --merge`)."]
        lines += ["", "```bash", "python -m maskgit.bench fid --test-dir ../shared/data/cat_face_test \\",
                  f"    --schedules cosine linear square cubic{flag} --out docs/bench",
                  "# more rows into the same report (same settings; reference rows are kept):",
                  "python -m maskgit.bench fid --test-dir ../shared/data/cat_face_test \\",
                  f"    --schedules sqrt log exp --skip-sweet{flag} --merge --out docs/bench",
                  "# or every table of this page at once, as two processes side by side (about 2 hours here):",
                  "TEST_DIR=../shared/data/cat_face_test bash scripts/rerun_benchmarks.sh",
                  "```", "",
                  "The cosine (10, 10) row is the same computation as",
                  "`python -m maskgit.evaluate --test-dir ../shared/data/cat_face_test --schedule cosine "
                  f"--sweet-spot 10 --total-iter 10{flag} --json` (a test checks the two paths give identical images).", "",
                  "Both use fp32 Inception (the next section measures the faster precisions against it).", ""]
        lines += seed_section(load(args.bench, "fid_seeds.json")[0], fid)
        if inception:
            tolerance = load(args.bench, "fid_tolerance.json")[0]
            # fid_tolerance.json records the decoding of its outputs since session 11; older files drew
            outputs_drawn = bool(tolerance) and final_step == "mode" and tolerance.get("outputs_final_step", "sample") == "sample"
            lines += inception_section(inception, tolerance, outputs_drawn)
        if fid_file.endswith("partial.json"):
            lines += ["*(From an interrupted run (`fid_results.partial.json`): every number shown was printed by "
                      "it; rows and cells not shown or marked – were not run.)*", ""]
        lines += ["![schedules](bench/schedules.png)", ""]
        # until the curve is rerun with the current decoding or weights, show the previous release's, labelled
        curve_report = next((r for r in (fid, drawn, previous) if r and r.get("curve")), None)
        if curve_report:
            curve = curve_report["curve"]
            totals = sorted({int(k) for points in curve.values() for k in points})
            lines += ["## FID vs total iterations (sweet spot = total)", "",
                      f"The MaskGIT paper's ablation on our checkpoints: the first {curve_report['curve_images']} "
                      "test faces, one decoding run per point, `fid` (decoded), same seed and settings as above. "
                      "FID over fewer faces reads higher than over all 747: compare the points with each other, "
                      "not with the tables above.", ""]
            if curve_report is drawn:
                lines += ["*Measured with the previous release's decoding (the last step drawn, "
                          "`fid_results_draws.json`); the command below reruns it with the current one.*", ""]
            if curve_report is previous:
                lines += ["*Not rerun for the shipped weights yet: these are the previous release's weights' "
                          "curves (`fid_results_previous.json`); the command below measures the shipped ones.*", ""]
            lines += ["| schedule | " + " | ".join(f"T={t}" for t in totals) + " |", "|---|" + "---|" * len(totals)]
            for name, points in curve.items():
                lines.append(f"| {name} | " + " | ".join(fmt(points.get(str(t))) for t in totals) + " |")
            if (curve_report is fid and before_report
                    and before_report.get("curve_images") == fid["curve_images"]):
                # the same points from the previous release, for comparison
                for name in curve:
                    if name in before_report.get("curve", {}):
                        lines.append(f"| {name}, {before_label} | " + " | ".join(
                            fmt(before_report["curve"][name].get(str(t))) for t in totals) + " |")
            missing = [name for name in COURSE_SCHEDULES if any(str(t) not in curve.get(name, {}) for t in totals)]
            if missing:
                lines += ["", f"Not run yet (or cut short: – in the table): {', '.join(missing)} (each about 20 "
                          "minutes here; the command below "
                          f"with `--curve-schedules {' '.join(missing)}` adds them)."]
            notes = curve_notes(curve_report)
            # the notes on draws describe their complete curve
            if notes and (curve_report.get("final_step") == "mode" or not missing):
                lines += ["", *notes]
            extra = [name for name in SCHEDULES if name not in COURSE_SCHEDULES
                     and any(str(t) not in curve.get(name, {}) for t in totals)]
            if extra:
                lines += ["", f"Not run yet (or cut short: – in the table) for the library's other schedules: "
                          f"{', '.join(extra)} (about 20 minutes "
                          f"each here; the command below with `--curve-schedules {' '.join(extra)}` adds them)."]
            lines += ["", "![FID vs iterations](bench/fid_vs_iterations.png)", "", "```bash",
                      "python -m maskgit.bench fid --test-dir ../shared/data/cat_face_test --schedules --skip-sweet \\",
                      f"    --curve-totals {' '.join(map(str, totals))} --curve-limit {curve_report['curve_images']} "
                      f"--curve-schedules {' '.join(curve)}{flag} --merge --out docs/bench",
                      "```", ""]
    if speed:
        peak = speed["peak_gflops_bf16"]
        lines += ["## Speed", "", f"Machine: {speed['machine']}, {speed['threads']} threads. Measured matmul peak "
                  f"(2048x2048): fp32 {speed['peak_gflops_fp32']} GFLOP/s, bf16 {peak} GFLOP/s. FLOPs from the "
                  f"model (transformer forward {speed['gflop']['transformer_forward']} GFLOP, tokenizer decode "
                  f"{speed['gflop']['vqgan_decode']}, encode {speed['gflop']['vqgan_encode']}).", "",
                  "| what | time | fraction of bf16 peak |", "|---|---|---|"]
        for b in (1, 4):
            lines.append(f"| transformer forward, batch {b} | {speed[f'transformer_forward_b{b}_ms']} ms | {speed[f'transformer_forward_b{b}_frac_peak']:.0%} |")
            lines.append(f"| tokenizer decode, batch {b} | {speed[f'vqgan_decode_b{b}_ms']} ms | {speed[f'vqgan_decode_b{b}_frac_peak']:.0%} |")
        lines += [f"| first decoding step (encode + 1 forward + decode) | {speed['first_step_ms']} ms | |",
                  f"| 10-step inpainting, every step decoded | {speed['inpaint_10_steps_ms']} ms | |",
                  f"| 4-schedule comparison, 10 steps, one batch | {speed['compare_4_schedules_10_steps_ms']} ms | |",
                  f"| evaluation inpainting (batch 32, decode at the end) | {speed['eval_inpaint_img_per_s']} img/s | {speed['eval_inpaint_frac_peak']:.0%} |",
                  f"| training step, transformer (batch 32) | {speed['train_transformer_img_per_s']} img/s | {speed['train_transformer_frac_peak']:.0%} |",
                  f"| training step, tokenizer (batch 32, no GAN) | {speed['train_vqgan_img_per_s']} img/s | {speed['train_vqgan_frac_peak']:.0%} |",
                  "", "```bash", "python -m maskgit.bench speed --out docs/bench", "```", ""]
    lines += studio_section(studio) + load_section(load_report)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
