"""Fill the tables of docs/benchmarks.md from the reports in docs/bench/.

  python scripts/benchmarks_md.py            # rewrite the tables in place
  python scripts/benchmarks_md.py --check    # exit 1 if a table is stale

The prose lives in the Markdown itself; only the text between `<!-- table: NAME -->` and
`<!-- end -->` is generated, from the JSON reports the benchmark commands write.
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"(<!-- table: (\w+) -->\n)(.*?)(<!-- end -->)", re.S)
DECODER_NAMES = {"guided": "mask-aware decoder", "tokens": "tokens only (the course's decoder)"}


def fmt(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"


def fid_rows(rows, decoders, label):
    head = [label] + [f"{DECODER_NAMES[d]}: fid / fid_composited" for d in decoders] + ["course fid"]
    if "guided" in decoders:
        head.insert(-1, "known-region PSNR (dB), guided / tokens")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows:
        cells = [name] + [f"**{fmt(row[d]['fid'])}** / {fmt(row[d]['fid_composited'])}" if d in row
                          else "not run yet" for d in decoders]
        if "guided" in decoders:
            cells.append(" / ".join(fmt(row.get(d, {}).get("psnr_known"), 1) for d in decoders))
        cells.append(fmt(row.get("course_fid")))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def schedules_table(report):
    return fid_rows(report["schedules"].items(), report["settings"]["decoders"], "schedule")


def sweet_spot_table(report):
    order = ["8,8", "10,10", "12,12", "8,20", "10,20", "12,20"]
    rows = [(f"({k})", report["sweet_spot_table"][k]) for k in order if k in report["sweet_spot_table"]]
    return fid_rows(rows, report["settings"]["decoders"], "(sweet spot, total)")


COURSE = {"cosine": 32.93, "linear": 34.01, "square": 34.00, "cubic": 34.52}


def results_table(report):
    """The README's table: the course's four schedules, both decoders, against the course."""
    lines = ["| schedule (10,10) | mask-aware decoder: `fid` / `fid_composited` | tokens only: `fid` / "
             "`fid_composited` | course `fid` |", "|---|---|---|---|"]
    for name, course in COURSE.items():
        row = report["schedules"].get(name, {})
        cells = [f"{fmt(row[d]['fid'])} / {fmt(row[d]['fid_composited'])}" if d in row else "not run yet"
                 for d in ("guided", "tokens")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {course:.2f} |")
    return lines


def reference_table(report):
    names = {"gray_fill": "gray-filled input (`masked_image`)", "opencv_telea": "OpenCV Telea, radius 3",
             "tokenizer_reconstruction": "the tokenizer's reconstruction of the truth (floor of the tokens-only `fid`)"}
    lines = ["| reference | fid |", "|---|---|"]
    return lines + [f"| {names.get(k, k)} | {fmt(v)} |" for k, v in report.get("reference", {}).items()]


def settings_line(report):
    s = report["settings"]
    weights = ", ".join(f"{k} `{v}`" for k, v in s["weights"].items())
    return [f"{s['n_images']} faces, seed {s['seed']}, choice temperature {s['choice_temperature']}, hole fill "
            f"`{s['fill']}`, last step `{s['final_step']}`, batch {s['batch_size']}, {s['fid_precision']} Inception. "
            f"Weights: {weights}."]


def speed_table(speed):
    keys = [("first_step_ms", "first step of a studio run"), ("inpaint_10_steps_ms", "a 10-step studio run"),
            ("compare_4_schedules_10_steps_ms", "4 schedules side by side, 10 steps"),
            ("transformer_forward_b1_ms", "transformer forward, batch 1"),
            ("decode_tokens_b1_ms", "tokens-only decoder, batch 1"), ("decode_guided_b1_ms", "mask-aware decoder, batch 1")]
    lines = [f"{speed['machine']}, {speed['threads']} threads, "
             f"{'bf16' if speed.get('bf16') else 'fp32'} (peak {speed.get('peak_gflops_bf16') or speed['peak_gflops_fp32']} GFLOP/s).",
             "", "| what | ms |", "|---|---|"]
    return lines + [f"| {label} | {speed[k]} |" for k, label in keys if k in speed]


def reliability_cases(report):
    """Every case of the reliability report: where, what, passed, the message a user saw."""
    lines = ["| where | case | passed | message |", "|---|---|---|---|"]
    for r in report["cases"]:
        message = r.get("message", "").replace("|", "\\|")
        lines.append(f"| {r['where']} | {r['case']} | {'yes' if r['passed'] else '**no**'} | {message} |")
    for k in report.get("kills", []):
        facts = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in k.items() if key not in ("case", "passed"))
        lines.append(f"| faults | {k['case']} | {'yes' if k['passed'] else '**no**'} | {facts} |")
    return lines


def json_table(data, title):
    """A flat report (the studio's latency, load, reliability) as a two-column table."""
    lines = [f"| {title} | value |", "|---|---|"]
    for key, value in data.items():
        if isinstance(value, (int, float, str, bool)):
            lines.append(f"| {key.replace('_', ' ')} | {value} |")
    return lines


def studio_table(studio):
    """The studio in headless Chromium against the model alone (maskgit-bench studio)."""
    rows = []
    for name, what in (("inpaint", "10-step inpaint"),
                       ("compare", f"{len(studio['compare_schedules'])}-schedule compare")):
        r = studio[name]
        rows.append(f"| {what} | {r['model_first_ms']} / {r['model_last_ms']} | {r['click_to_first_ms']} / "
                    f"{r['click_to_last_ms']} | {r['server_last_ms']} | {r['last_ratio']:.2f}x |")
    return ["| run | model alone: first / last step (ms) | page: click to first / last step shown (ms) | "
            "server: to last step (ms) | last step: page / model |", "|---|---|---|---|---|", *rows, "",
            f"{studio.get('machine', 'machine not recorded')}; medians of {studio['runs']} runs; 1-minute load "
            f"average {studio.get('load_average_1min', '?')} at the end."]


def load_table(report):
    """Many streaming users at once (maskgit-bench load)."""
    rows = [f"| {r['users']} | {r['first_median_s']} / {r['first_p95_s']} | {r['last_median_s']} / "
            f"{r['last_p95_s']} | {'yes' if r['all_complete'] else 'no'} |" for r in report["rows"]]
    return ["| users | first step: median / p95 (s) | last step: median / p95 (s) | all complete |",
            "|---|---|---|---|", *rows, "",
            f"{report.get('machine', 'machine not recorded')}; {report['steps']} steps each; the studio runs "
            f"{report['concurrency']} model runs at once."]


def tables(bench_dir):
    def load(name):
        path = os.path.join(bench_dir, name)
        return json.load(open(path)) if os.path.exists(path) else None
    fid, speed = load("fid_results.json"), load("speed.json")
    out = {}
    if fid:
        out.update(fid_settings=settings_line(fid), schedules=schedules_table(fid), reference=reference_table(fid),
                   results=results_table(fid))
        if fid.get("sweet_spot_table"):
            out["sweet_spot"] = sweet_spot_table(fid)
    if speed:
        out["speed"] = speed_table(speed)
    studio, load_report, reliability = load("studio.json"), load("load.json"), load("reliability.json")
    if studio and "inpaint" in studio:
        out["studio"] = studio_table(studio)
    if load_report and load_report.get("rows"):
        out["load"] = load_table(load_report)
    if reliability:
        out["reliability"] = json_table(reliability.get("summary", reliability), "reliability")
        out["reliability_cases"] = reliability_cases(reliability)
    return out


def render(text, generated):
    def fill(m):
        body = generated.get(m.group(2))
        return m.group(0) if body is None else m.group(1) + "\n".join(body) + "\n" + m.group(4)
    return BLOCK.sub(fill, text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--page", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    p.add_argument("--bench-dir", default=os.path.join(ROOT, "docs", "bench"))
    p.add_argument("--check", action="store_true", help="exit 1 if the page's tables differ from the reports")
    args = p.parse_args(argv)
    text = open(args.page).read()
    new = render(text, tables(args.bench_dir))
    if args.check:
        return int(new != text)
    with open(args.page, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
