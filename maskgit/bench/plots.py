"""The benchmark figures: the mask schedules, and FID against total iterations."""
import os

import numpy as np

from ..schedules import SCHEDULES


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_schedules(path):
    plt = pyplot()
    r = np.linspace(0, 1, 200)
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=110)
    for name, gamma in SCHEDULES.items():
        ax.plot(r, gamma(r), label=name)
    ax.set_xlabel("r = step / total iterations")
    ax.set_ylabel("gamma(r): fraction still masked")
    ax.legend(fontsize=7); ax.grid(alpha=0.3); fig.tight_layout()
    fig.savefig(path); plt.close(fig)


def plot_curve(curve, path, decoder):
    """curve: {"schedule,total,nN": {decoder: {"fid": ...}}} -> FID against total iterations."""
    plt = pyplot()
    lines = {}
    for key, row in curve.items():
        name, total, n = key.split(",")
        if decoder in row:
            lines.setdefault(name, []).append((int(total), row[decoder]["fid"]))
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=110)
    for name, points in lines.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=name)
    ax.set_xlabel("total iterations (sweet spot = total)")
    ax.set_ylabel(f"FID, decoded ({decoder} decoder, {n[1:]} faces)")
    ax.legend(fontsize=7); ax.grid(alpha=0.3); fig.tight_layout()
    fig.savefig(path); plt.close(fig)


def plot_report(report, out_dir):
    plot_schedules(os.path.join(out_dir, "schedules.png"))
    if report.get("curve"):
        decoder = report["settings"]["decoders"][0]
        plot_curve(report["curve"], os.path.join(out_dir, "fid_vs_iterations.png"), decoder)
