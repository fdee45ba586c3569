"""The schedule curve with the current step marked, drawn with PIL (a few ms per frame,
so it can be redrawn at every streamed step; matplotlib took ~100 ms)."""
import numpy as np
from PIL import Image, ImageDraw

from maskgit.schedules import get_schedule

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194)]


def schedule_plot(names, total_iter, step=None, size=(360, 240)):
    """gamma(r) of each schedule, the points of a total_iter run, and `step` circled."""
    w, h = size
    left, right, top, bottom = 44, 12, 12, 34
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)

    def xy(r, g):
        return left + r * (w - left - right), top + (1 - g) * (h - top - bottom)

    for v in (0, 0.25, 0.5, 0.75, 1):  # grid and tick labels
        d.line([xy(v, 0), xy(v, 1)], fill=(230, 230, 230))
        d.line([xy(0, v), xy(1, v)], fill=(230, 230, 230))
        d.text((xy(v, 0)[0] - 8, h - bottom + 4), f"{v:g}", fill=(90, 90, 90))
        d.text((6, xy(0, v)[1] - 6), f"{v:.2f}", fill=(90, 90, 90))
    d.rectangle([xy(0, 1), xy(1, 0)], outline=(120, 120, 120))
    d.text((left + 40, h - 16), "progress r = step / total  ->  fraction masked", fill=(60, 60, 60))
    r = np.linspace(0, 1, 120)
    for i, name in enumerate(names):
        gamma, colour = get_schedule(name), COLOURS[i % len(COLOURS)]
        d.line([xy(a, b) for a, b in zip(r, gamma(r))], fill=colour, width=2)
        for s in range(1, total_iter + 1):
            x, y = xy(s / total_iter, gamma(s / total_iter))
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        if step:
            x, y = xy(step / total_iter, gamma(step / total_iter))
            d.ellipse([x - 6, y - 6, x + 6, y + 6], outline=(0, 0, 0), width=2)
        if len(names) > 1:
            d.text((w - right - 70, top + 4 + 12 * i), name, fill=colour)
    return np.asarray(img)
