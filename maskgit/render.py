"""Pictures of decoding steps, the one place they are drawn (the library, the command line
and the studio): the latent token mask in colours, the confidence heatmap, frames, rows,
strips, GIFs, the schedule chart, and PNG encoding for the browser.

Pictures are uint8 arrays at model resolution (16x16 token maps, 64x64 images); a page
enlarges them with CSS `image-rendering: pixelated`, files with `enlarge`. Backgrounds
between pictures are transparent (RGBA) unless a file format needs a colour.
"""
import base64
import io
import warnings

import numpy as np
import torch
from PIL import Image

from .images import unit_to_uint8
from .schedules import get_schedule

# Token states and their colours (RGB).
KNOWN = (70, 70, 70)             # known from the start
DECIDED_EARLIER = (90, 160, 230)  # decided at an earlier step
DECIDED_NOW = (255, 150, 40)     # decided at this step
STILL_MASKED = (250, 250, 250)   # still [MASK]
LEGEND = {"known": KNOWN, "decided earlier": DECIDED_EARLIER, "decided this step": DECIDED_NOW,
          "still masked": STILL_MASKED}
WHITE = (255, 255, 255)

# Viridis (perceptually uniform, readable by colour-blind people) at 9 evenly spaced points.
VIRIDIS = np.array([(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
                    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)], np.float64)
# Schedule colours of the chart (one per library schedule, in order).
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


# -- one step --------------------------------------------------------------------------------
def token_state_image(known, still_masked, newly_decided):
    """Bool (h, w) maps -> uint8 (h, w, 3) picture of the latent mask."""
    known, still, new = (np.asarray(a, dtype=bool) for a in (known, still_masked, newly_decided))
    out = np.empty(known.shape + (3,), np.uint8)
    out[:] = DECIDED_EARLIER
    out[known] = KNOWN
    out[new] = DECIDED_NOW
    out[still] = STILL_MASKED
    return out


def to_uint8_image(image01):
    """float (3, H, W) tensor/array in [0, 1] -> uint8 (H, W, 3)."""
    return unit_to_uint8(image01.float() if torch.is_tensor(image01) else image01)


def latent_mask(record, index=0):
    """The latent mask of batch row `index` of an InpaintStep: uint8 (h, w, 3)."""
    return token_state_image(record.known[index].cpu(), record.still_masked[index].cpu(),
                             record.newly_decided[index].cpu())


def step_image(record, index=0, paste_back=True):
    """The prediction of batch row `index` (known pixels pasted back unless told not): uint8 (H, W, 3)."""
    return to_uint8_image((record.composite if paste_back else record.image)[index])


def step_pictures(record, index=0, paste_back=True):
    """(latent mask, prediction) of one row of a step, at model resolution."""
    return latent_mask(record, index), step_image(record, index, paste_back)


# -- confidence ------------------------------------------------------------------------------
def decided_confidence(previous, record):
    """(B, h, w) float: the probability the model gave each token it decided, at the step it
    decided it; NaN for tokens not decided yet and for known ones. `previous` is this
    function's result for the step before (None at the first step)."""
    if previous is None:
        previous = torch.full(record.known.shape, float("nan"), device=record.known.device)
    return torch.where(record.newly_decided, record.confidence.float(), previous)


def colormap(values):
    """Values in [0, 1] (any shape) -> uint8 RGB (shape + (3,)) in viridis."""
    x = np.clip(np.nan_to_num(np.asarray(values, np.float64)), 0, 1) * (len(VIRIDIS) - 1)
    lo = np.minimum(np.floor(x).astype(int), len(VIRIDIS) - 2)
    t = (x - lo)[..., None]
    return np.round(VIRIDIS[lo] * (1 - t) + VIRIDIS[lo + 1] * t).astype(np.uint8)


CONFIDENCE_FLOOR = 1e-3  # the heatmap's scale: log10 of the probability, from this floor to 1


def confidence_scale(probability):
    """Probabilities -> [0, 1] on a log scale from CONFIDENCE_FLOOR (0) to 1 (1): a token drawn
    from 1,000 codes is often given a few percent, which a linear scale would show as one colour."""
    p = np.clip(np.asarray(probability, np.float64), CONFIDENCE_FLOOR, 1)
    return np.log10(p) / -np.log10(CONFIDENCE_FLOOR) + 1


def confidence_image(probability):
    """(h, w) probabilities with NaN where nothing was decided -> uint8 RGBA (h, w, 4): viridis
    on a log scale (`confidence_scale`) where decided, transparent elsewhere (the page's own
    background shows through)."""
    p = np.asarray(probability.cpu() if hasattr(probability, "cpu") else probability, np.float64)
    out = np.zeros(p.shape + (4,), np.uint8)
    decided = ~np.isnan(p)
    out[..., :3] = colormap(confidence_scale(np.nan_to_num(p, nan=1.0)))
    out[..., 3] = np.where(decided, 255, 0)
    return out


def colormap_css():
    """The colormap as a CSS linear-gradient (a legend drawn by the browser, as text)."""
    stops = ", ".join(f"rgb({int(r)},{int(g)},{int(b)}) {100 * i / (len(VIRIDIS) - 1):.1f}%"
                      for i, (r, g, b) in enumerate(VIRIDIS))
    return f"linear-gradient(to right, {stops})"


# -- frames, rows, strips ----------------------------------------------------------------------
def enlarge(img_uint8, size=256):
    """Nearest-neighbour enlargement to size x size (or (width, height))."""
    wh = (size, size) if isinstance(size, int) else tuple(size)
    return np.asarray(Image.fromarray(img_uint8).resize(wh, Image.NEAREST))


def rgba(img, alpha=255):
    img = np.asarray(img, np.uint8)
    if img.shape[-1] == 4:
        return img
    return np.concatenate([img, np.full(img.shape[:-1] + (1,), alpha, np.uint8)], axis=-1)


def flatten(img, background=WHITE):
    """RGBA -> RGB over `background`; RGB unchanged."""
    img = np.asarray(img, np.uint8)
    if img.shape[-1] == 3:
        return img
    a = img[..., 3:4].astype(np.float32) / 255
    return np.round(img[..., :3] * a + np.array(background, np.float32) * (1 - a)).astype(np.uint8)


def row(pictures, gap=2, background=None):
    """Equally tall pictures left to right with `gap` pixels between them: transparent RGBA
    gaps (background=None) or RGB on `background`."""
    if background is None:
        pictures = [rgba(p) for p in pictures]
        spacer = np.zeros((pictures[0].shape[0], gap, 4), np.uint8)
    else:
        pictures = [flatten(p, background) for p in pictures]
        spacer = np.full((pictures[0].shape[0], gap, 3), background, np.uint8)
    parts = [x for p in pictures for x in (p, spacer)][:-1]
    return np.concatenate(parts, axis=1)


def column(pictures, gap=2, background=None):
    """Equally wide pictures top to bottom (the transpose of `row`)."""
    return row([np.swapaxes(p, 0, 1) for p in pictures], gap, background).swapaxes(0, 1)


def frame(mask, image, gap=2, background=None):
    """(latent mask | prediction) side by side, the mask enlarged to the image's size."""
    return row([enlarge(mask, image.shape[:2][::-1]), image], gap, background)


def side_by_side(left, right, gap=8):
    """Two equally tall pictures with a white gap between them."""
    return row([left, right], gap, WHITE)


def step_frame(record, index=0, size=256, composite=False):
    """One decoding step of one image: latent mask | predicted image, side by side, enlarged."""
    mask, image = step_pictures(record, index, paste_back=composite)
    return side_by_side(enlarge(mask, size), enlarge(image, size))


def strip(frames_by_row, gap=2, background=None):
    """A step of several rows (e.g. schedules or candidates) as one picture: each row's
    (mask | prediction) frame, side by side."""
    return row([frame(m, i, gap, background) for m, i in frames_by_row], 3 * gap, background)


def gif_bytes(frames, ms_per_frame=400, hold_last_ms=1500, name="GIF", scale=1):
    """uint8 frames (RGB, or RGBA drawn on white) -> animated GIF file contents; the last frame
    lingers; `scale` enlarges them (nearest neighbour).

    A GIF writer stores a frame that equals the one before it (once both are reduced to the
    GIF's 256 colours) as that frame held longer, so a step that changed nothing on screen is
    no frame of its own; the timing is kept, and a warning says how many frames were merged."""
    images = [Image.fromarray(flatten(f)) for f in frames]
    if scale != 1:
        images = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in images]
    durations = [ms_per_frame] * (len(images) - 1) + [hold_last_ms]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    with Image.open(buffer) as gif:
        merged = len(images) - gif.n_frames
    if merged:
        warnings.warn(f"{name}: {merged} of {len(images)} frames equal the frame before them in the GIF's "
                      "256 colours and are shown as that frame held longer", stacklevel=3)
    return buffer.getvalue()


def save_gif(frames, path_or_file=None, ms_per_frame=400, hold_last_ms=1500, scale=1):
    """uint8 frames -> animated GIF written to a path or file object (bytes if neither);
    see gif_bytes."""
    name = "GIF" if path_or_file is None or hasattr(path_or_file, "write") else str(path_or_file)
    data = gif_bytes(frames, ms_per_frame, hold_last_ms, name=name, scale=scale)
    if path_or_file is None:
        return data
    if hasattr(path_or_file, "write"):
        path_or_file.write(data)
    else:
        with open(path_or_file, "wb") as f:
            f.write(data)
    return None


# -- encoding --------------------------------------------------------------------------------
def png_bytes(img):
    """uint8 RGB/RGBA array -> PNG bytes (lossless; fast at these sizes)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(img, np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def data_url(img):
    """uint8 array -> a data:image/png URL for the page to show without another request."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(img)).decode("ascii")


# -- the schedule chart ----------------------------------------------------------------------
def schedule_svg(names, total_iter, sweet_spot=None, width=360, height=200):
    """gamma(r) of each schedule with the points of a total_iter run as an SVG string.

    Axes and text use `currentColor` (they follow the page's light or dark theme); each
    step's points carry `data-step`, so a page marks the current step without redrawing."""
    left, right, top, bottom = 38, 10, 10, 30
    pw, ph = width - left - right, height - top - bottom

    def xy(r, g):
        return f"{left + r * pw:.1f},{top + (1 - g) * ph:.1f}"

    out = [f'<svg class="mg-schedule" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="mask schedules" xmlns="http://www.w3.org/2000/svg" font-size="10" fill="currentColor">',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="currentColor" '
           'stroke-opacity="0.5"/>']
    for v in (0, 0.5, 1):
        x, y = left + v * pw, top + (1 - v) * ph
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 12}" text-anchor="middle">{v:g}</text>'
                   f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{v:g}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" text-anchor="middle">'
               'step / total iterations → fraction of the hole still masked</text>')
    if sweet_spot and sweet_spot < total_iter:
        x = left + sweet_spot / total_iter * pw
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="currentColor" '
                   'stroke-dasharray="3 3" stroke-opacity="0.7"><title>sweet spot</title></line>')
    r = np.linspace(0, 1, 61)
    for i, name in enumerate(names):
        gamma, colour = get_schedule(name), COLOURS[i % len(COLOURS)]
        points = " ".join(xy(a, b) for a, b in zip(r, gamma(r)))
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for s in range(1, total_iter + 1):
            x, y = xy(s / total_iter, gamma(s / total_iter)).split(",")
            out.append(f'<circle class="mg-step" data-step="{s}" cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
        if len(names) > 1:
            out.append(f'<text x="{left + pw - 4}" y="{top + 12 + 12 * i}" text-anchor="end" '
                       f'fill="{colour}">{name}</text>')
    out.append("</svg>")
    return "".join(out)

