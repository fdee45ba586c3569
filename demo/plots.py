"""The schedule curve with the current step marked (matplotlib, rendered to an array)."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from maskgit.schedules import get_schedule  # noqa: E402


def schedule_plot(names, total_iter, step=None, highlight=None):
    """gamma(r) for each schedule, the step points of a total_iter run, and `step` marked."""
    fig, ax = plt.subplots(figsize=(3.6, 2.5), dpi=90)
    r = np.linspace(0, 1, 200)
    for name in names:
        gamma = get_schedule(name)
        lw = 2.4 if name == highlight or len(names) == 1 else 1.2
        line, = ax.plot(r, gamma(r), lw=lw, label=name)
        steps = np.arange(1, total_iter + 1) / total_iter
        ax.plot(steps, gamma(steps), "o", ms=3, color=line.get_color())
        if step:
            ax.plot([step / total_iter], [gamma(step / total_iter)], "o", ms=9, mfc="none",
                    mec="black", mew=1.5)
    ax.set_xlabel("progress r = step / total iterations", fontsize=8)
    ax.set_ylabel("fraction still masked", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_xlim(0, 1.02); ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if len(names) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return np.asarray(Image.open(buf).convert("RGB"))
