"""Training curves from run logs (log.jsonl) -> one PNG.

  python scripts/plot_training.py --vqgan docs/runs/2026-11-27-h200-tokenizer-from-scratch.jsonl \
      --transformer docs/runs/2026-11-27-h200-transformer-from-scratch.jsonl \
          docs/runs/2026-11-28-h200-transformer-continued1.jsonl \
          docs/runs/2026-11-28-h200-transformer-continued1-lower-lr.jsonl \
          docs/runs/2026-11-28-h200-transformer-continued2.jsonl \
          docs/runs/2026-11-28-h200-transformer-continued3.jsonl \
      --decoder docs/runs/2026-11-27-epyc2-decoder-l1l2.jsonl \
      --decoder docs/runs/2026-11-28-epyc2-decoder-l1l2-continued.jsonl \
      --decoder docs/runs/2026-11-28-h200-decoder-l1l2.jsonl --decoder docs/runs/2026-11-28-xeon2-decoder-fm.jsonl \
      --decoder docs/runs/2026-11-28-h200-decoder-fm.jsonl \
      --recon docs/runs/2026-11-28-xeon2-val-decoder-fm-2200.jsonl \
      --recon docs/runs/2026-11-28-xeon2-val-decoder-fm-3400.jsonl \
      --recon docs/runs/2026-11-28-xeon2-val-decoder-fm-4600.jsonl \
      --recon docs/runs/2026-11-28-xeon2-val-decoder-fm-5263.jsonl \
      --recon docs/runs/2026-11-29-xeon2-val-decoder-restarts.jsonl \
      --recon docs/runs/2026-11-29-epyc2-val-decoder-restart-resumed-ema.jsonl \
      --recon docs/runs/2026-11-29-epyc2-val-decoder-gentle-restart-soup.jsonl \
      --recon-offset fm21=5263 --recon-offset fm21w=5263 --recon-offset fm21l=5263 \
      --recon-offset gentle23=5263 \
      --out docs/figures/training_curves.png

--transformer: one run, then the runs that continued it (--init-from), in order; their steps
are counted on from where the previous run ended.

--decoder (optional, repeatable): decoder-only tuning runs, drawn in a third panel (their
validation may use fewer faces than the first run's, so they get their own axis; a step is
32 images on the CPU, 128 on a GPU).

--recon (optional, repeatable): `scripts/compare_tokenizers.py` rows (val reconstruction FID,
747 faces) of decoder runs, drawn per run against the run's own step (the row's "step", or
"at step N" in its label), with the shipped decoder's score as a dashed line (the last
`checkpoints` row read: give the files oldest first).
--recon-offset RUN=STEP draws RUN from STEP on: a run that started from another run's
decoder at that step (the 2026-11-29 restarts from the shipped decoder, fm17's step 5,263).
"""
import argparse
import json
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_offset(text):
    run, _, step = text.partition("=")
    if not run or not step.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not RUN=STEP (e.g. fm21=5263)")
    return run, int(step)


def recon_series(paths):
    """{run: [(step, fid)]} and the shipped decoder's latest FID (or None) from compare_tokenizers rows."""
    series, shipped = {}, None
    for path in paths:
        for row in read(path):
            label = row.get("tokenizer", "")
            if "fid" not in row or not label:
                continue
            if label.startswith("checkpoints"):
                shipped = row["fid"]
                continue
            found = re.search(r"at step (\d+)", label)
            step = row.get("step", int(found.group(1)) if found else None)
            run = re.match(r"(?:runs/)?([^\s(]+?)(?: at step|\s|\(|$)", label)
            if step is None or not run:
                continue
            name = run.group(1).replace("@model", "").replace("@ema", " (EMA)")  # a run's state: its weights
            series.setdefault(name, []).append((step, row["fid"]))
    return {run: sorted(points) for run, points in series.items()}, shipped


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vqgan", required=True)
    p.add_argument("--transformer", required=True, nargs="+")
    p.add_argument("--decoder", action="append", default=[])
    p.add_argument("--recon", action="append", default=[])
    p.add_argument("--recon-offset", action="append", default=[], metavar="RUN=STEP", type=run_offset)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    vq = read(args.vqgan)
    panels = 2 + bool(args.decoder) + bool(args.recon)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.2), dpi=100)
    a, b = axes[:2]
    a.plot([r["step"] for r in vq], [r["val_psnr"] for r in vq], "o-")
    a.set_title("tokenizer: val PSNR (dB)"); a.set_xlabel("step"); a.grid(alpha=0.3)
    offset = 0
    for i, path in enumerate(args.transformer):
        run = read(path)
        pts = [r for r in run if "val_loss" in r and not r.get("final")]
        if i:
            b.axvline(offset, color="gray", lw=0.8, ls=":")  # where the continuation began
        b.plot([offset + r["step"] for r in pts], [r["val_loss"] for r in pts], "o-", ms=3,
               label=os.path.basename(path) + ("" if i else " (first run)"))
        offset += max((r["step"] for r in run), default=0)
    if len(args.transformer) > 1:
        b.legend(fontsize=7)
    b.set_title("transformer: val loss (nats)"); b.set_xlabel("step"); b.grid(alpha=0.3)
    for path in args.decoder:
        pts = [r for r in read(path) if "val_psnr" in r and not r.get("final")]
        axes[2].plot([r["step"] for r in pts], [r["val_psnr"] for r in pts], "o-", ms=3, label=os.path.basename(path))
    if args.decoder:
        axes[2].set_title("decoder-only tuning: val PSNR (dB)"); axes[2].set_xlabel("step")
        axes[2].grid(alpha=0.3); axes[2].legend(fontsize=7)
    if args.recon:
        ax = axes[-1]
        series, shipped = recon_series(args.recon)
        offsets = dict(args.recon_offset)
        for run, points in series.items():
            start = offsets.get(run.replace(" (EMA)", ""), 0)
            ax.plot([start + s for s, _ in points], [f for _, f in points], "o-", ms=3,
                    label=run + (f" (from step {start})" if start else ""))
        if shipped is not None:
            ax.axhline(shipped, color="gray", ls="--", lw=1, label=f"shipped decoder ({shipped:.2f})")
        ax.set_title("decoder runs: val reconstruction FID"); ax.set_xlabel("decoder step")
        ax.grid(alpha=0.3); ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
