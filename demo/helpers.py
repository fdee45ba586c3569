"""UI helpers for the studio: editor values, preset holes, pictures, exports.

No model maths here: the model lives in `maskgit`; this file turns what the browser sends
into arrays and what the model yields into pictures.
"""
import io
import os
import time
import warnings
import zipfile

import numpy as np
import torch
from PIL import Image

from maskgit import encoder_view
from maskgit.images import IMAGE_SIZE, downscale_hole, to_model_rgb
from maskgit.masks import random_walk_hole
from maskgit.render import LEGEND, enlarge, save_gif, side_by_side, to_uint8_image, token_state_image

VIEW = 256  # pixels on screen for one 64x64 picture
PRESETS = ("center box", "eyes band", "left half", "random blob")


class InputError(ValueError):
    """Something the person can fix: shown in the UI as a message."""


def prepare_face(image):
    """Any uploaded picture (numpy / PIL) -> uint8 64x64 RGB (center-cropped, resized)."""
    if image is None:
        raise InputError("Pick a face first: upload one, choose an example or press Generate.")
    img = Image.fromarray(np.asarray(image)) if not isinstance(image, Image.Image) else image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_model_rgb(img)


def editor_value(face64, hole64=None):
    """Editor value showing `face64` enlarged, with `hole64` (bool) as a painted layer."""
    background = enlarge(face64, VIEW)
    layer = np.zeros((VIEW, VIEW, 4), np.uint8)
    if hole64 is not None:
        big = np.asarray(Image.fromarray(hole64.astype(np.uint8) * 255).resize((VIEW, VIEW), Image.NEAREST)) > 0
        layer[big] = (255, 0, 255, 200)
    composite = background.copy()
    alpha = layer[..., 3:4] / 255.0
    composite = (composite * (1 - alpha) + layer[..., :3] * alpha).astype(np.uint8)
    return {"background": background, "layers": [layer], "composite": composite}


def read_editor(value, threshold=0.25):
    """Editor value -> (face uint8 64x64x3, hole bool 64x64).

    The background is the face (enlarged); every painted layer pixel is part of the hole.
    A 64x64 pixel is a hole when at least `threshold` of its on-screen area was painted.
    """
    if not value or value.get("background") is None:
        raise InputError("Pick a face first: upload one, choose an example or press Generate.")
    background = np.asarray(value["background"])
    if background.ndim != 3 or background.shape[2] < 3:
        raise InputError("The picture in the editor is not an RGB image.")
    face = prepare_face(background[..., :3])
    h, w = background.shape[:2]
    painted = np.zeros((h, w), bool)
    for layer in value.get("layers") or []:
        layer = np.asarray(layer)
        if layer.ndim == 3 and layer.shape[2] == 4 and layer.shape[:2] == (h, w):
            painted |= layer[..., 3] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # paint outside the face's crop is simply not part of it
        return face, downscale_hole(painted, IMAGE_SIZE, coverage=threshold)


def preset_hole(name, seed=0, size=IMAGE_SIZE):
    """A preset hole (bool size x size)."""
    hole = np.zeros((size, size), bool)
    if name == "center box":
        hole[16:48, 16:48] = True
    elif name == "eyes band":
        hole[18:34, 6:58] = True
    elif name == "left half":
        hole[:, : size // 2] = True
    elif name == "random blob":
        hole = random_walk_hole(np.random.default_rng(seed), size)
    else:
        raise InputError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return hole


def masked_view(face64, hole64, fill="smooth"):
    """The input as the encoder sees it, hole filled (64x64 uint8; the page enlarges it)."""
    face = torch.from_numpy(np.array(face64, np.uint8)).permute(2, 0, 1)[None].float() / 255
    view = encoder_view(face, torch.from_numpy(np.asarray(hole64, bool))[None], fill)
    return to_uint8_image(view[0])


def step_pictures(record, index=0, paste_back=True, size=IMAGE_SIZE):
    """(latent mask picture, predicted image) of one step at `size` pixels.

    The studio streams them at 64x64 and lets the browser enlarge them (pixelated): 16x
    fewer pixels to encode and send per step than pre-enlarged pictures."""
    mask = token_state_image(record.known[index].cpu(), record.still_masked[index].cpu(),
                             record.newly_decided[index].cpu())
    image = record.composite if paste_back else record.image
    return enlarge(mask, size), enlarge(to_uint8_image(image[index]), size)


def big_frame(mask_pic, image_pic, size=VIEW):
    """An enlarged (latent mask | prediction) frame for the step viewer and downloads."""
    return frame(enlarge(mask_pic, size), enlarge(image_pic, size))


def legend_markdown():
    swatch = '<span style="display:inline-block;width:12px;height:12px;background:rgb{};border:1px solid #888"></span>'
    return " &nbsp; ".join(f"{swatch.format(tuple(c))} {name}" for name, c in LEGEND.items())


def frame(mask_pic, image_pic, gap=8):
    return side_by_side(mask_pic, image_pic, gap)


def label_strip(text, width, height=22):
    from PIL import ImageDraw
    img = Image.new("RGB", (width, height), (255, 255, 255))
    ImageDraw.Draw(img).text((6, 5), text, fill=(20, 20, 20))
    return np.asarray(img)


def compare_grid(columns, titles, gap=12):
    """Side-by-side columns (each a frame) with a title above each."""
    h = max(c.shape[0] for c in columns)
    parts = []
    for col, title in zip(columns, titles):
        col = np.concatenate([label_strip(title, col.shape[1]), col], axis=0)
        parts += [col, np.full((col.shape[0], gap, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


def prune_exports(folder, max_age_s=3600, now=None):
    """Remove exports older than max_age_s (Gradio serves its own copy once a download is
    returned), so a long-running studio does not fill the disk. Returns how many went."""
    now = time.time() if now is None else now
    removed = 0
    for entry in os.scandir(folder):
        try:
            if entry.is_file() and now - entry.stat().st_mtime > max_age_s:
                os.remove(entry.path)
                removed += 1
        except FileNotFoundError:  # another request pruned it first
            pass
    return removed


def export_run(frames, folder, stem):
    """Write frames as an animated GIF and a zip of PNGs; returns both paths."""
    gif_path = os.path.join(folder, f"{stem}.gif")
    save_gif(frames, gif_path)
    zip_path = os.path.join(folder, f"{stem}-frames.zip")
    with zipfile.ZipFile(zip_path, "w") as zf:
        for i, f in enumerate(frames, 1):
            buf = io.BytesIO()
            Image.fromarray(f).save(buf, format="PNG")
            zf.writestr(f"step_{i:02d}.png", buf.getvalue())
    return gif_path, zip_path
