"""UI glue for the studio: what the browser sends -> arrays, presets, exports.

No model maths and no step pictures here: the model lives in `maskgit`, every picture of a
decoding step in `maskgit.render`.
"""
import base64
import binascii
import io
import os
import time
import warnings
import zipfile

import numpy as np
from PIL import Image

from maskgit.errors import MaskGITError
from maskgit.images import IMAGE_SIZE, check_pixel_count, downscale_hole, read_file, to_model_rgb, to_rgb
from maskgit.masks import random_walk_hole
from maskgit.render import LEGEND, colormap_css, data_url, enlarge, png_bytes, save_gif

VIEW = 256  # pixels of the enlarged face in editor values built for the API
PRESETS = ("center box", "eyes band", "left half", "random blob")
MAX_DATA_URL = 2_000_000  # characters of a face sent by the page (a 64x64 PNG needs ~20,000)
PICK_A_FACE = "Pick a face first: upload one, choose an example or press Generate."


class InputError(ValueError):
    """Something the person can fix: shown in the UI as a one-line message."""


def prepare_face(image):
    """Any uploaded picture (numpy / PIL) -> uint8 64x64 RGB (center-cropped, resized)."""
    if image is None:
        raise InputError(PICK_A_FACE)
    img = Image.fromarray(np.asarray(image)) if not isinstance(image, Image.Image) else image
    try:
        check_pixel_count(img.size, what="the picture")
    except MaskGITError as e:
        raise InputError(str(e)) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_model_rgb(img)  # any mode, as the library reads files: transparency onto white


# -- the page's painter: {"face": PNG data URL, "hole": 64x64 bits, base64} ----------------------
def encode_hole(hole64):
    return base64.b64encode(np.packbits(np.asarray(hole64, bool).ravel()).tobytes()).decode("ascii")


def decode_hole(text, size=IMAGE_SIZE):
    if not text:
        return np.zeros((size, size), bool)
    try:
        bits = np.unpackbits(np.frombuffer(base64.b64decode(text, validate=True), np.uint8))
    except (binascii.Error, ValueError):
        raise InputError("The painted hole could not be read; clear the paint and paint again.") from None
    if bits.size < size * size:
        raise InputError("The painted hole could not be read; clear the paint and paint again.")
    return bits[: size * size].reshape(size, size).astype(bool)


def painter_value(face64, hole64=None):
    """The painter's value showing `face64` with `hole64` (bool) painted (None: no paint)."""
    return {"face": data_url(face64), "hole": encode_hole(hole64) if hole64 is not None else ""}


def decode_face(url):
    if not isinstance(url, str) or not url.startswith("data:image/") or "," not in url:
        raise InputError(PICK_A_FACE)
    if len(url) > MAX_DATA_URL:
        raise InputError("The face sent by the page is too large; pick or upload it again.")
    try:
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1], validate=True))) as img:
            return prepare_face(img)
    except (binascii.Error, OSError, ValueError, Image.DecompressionBombError):
        raise InputError("The face sent by the page could not be read; pick or upload it again.") from None


def read_painter(value):
    """Painter value -> (face uint8 64x64x3, hole bool 64x64)."""
    if not isinstance(value, dict) or not value.get("face"):
        raise InputError(PICK_A_FACE)
    return decode_face(value["face"]), decode_hole(value.get("hole"))


# -- gr.ImageEditor values (the API's editor argument) -----------------------------------------
def editor_value(face64, hole64=None):
    """An ImageEditor value showing `face64` enlarged, with `hole64` (bool) as a painted layer."""
    background = enlarge(face64, VIEW)
    layer = np.zeros((VIEW, VIEW, 4), np.uint8)
    if hole64 is not None:
        layer[enlarge(np.asarray(hole64, np.uint8) * 255, VIEW) > 0] = (255, 0, 255, 200)
    return {"background": background, "layers": [layer], "composite": background.copy()}


def layer_alpha(layer, shape):
    """A painted layer's alpha > 0 at the background's (h, w): a layer of the same shape
    but another size is resized to it; one of another shape is refused."""
    layer = np.asarray(layer)
    if layer.ndim != 3 or layer.shape[2] != 4:
        raise InputError("A painted layer must be an RGBA picture (paint where alpha > 0).")
    h, w = shape
    if layer.shape[:2] != (h, w):
        lh, lw = layer.shape[:2]
        if abs(lh * w - lw * h) > max(lh, lw, h, w):
            raise InputError(f"A painted layer is {lw}x{lh} but the face is {w}x{h}: layers need the face's shape.")
        alpha = Image.fromarray(np.ascontiguousarray(layer[..., 3])).resize((w, h), Image.NEAREST)
        return np.asarray(alpha) > 0
    return layer[..., 3] > 0


def editor_picture(item, what, rgba=False):
    """A picture of an editor value: an array, or (from the API) a file read as a viewer shows
    it (EXIF turned, 16-bit scaled, the size checked before decoding), as RGB or RGBA."""
    if not isinstance(item, str):
        return np.asarray(item)
    try:
        img, _ = read_file(item, what)
    except MaskGITError as e:
        raise InputError(str(e).replace(os.path.dirname(item) + os.sep, "")) from None
    return np.asarray(img.convert("RGBA") if rgba else to_rgb(img)[0])


def read_editor(value, threshold=0.25):
    """ImageEditor value -> (face uint8 64x64x3, hole bool 64x64).

    The background is the face (any size: center-cropped); every painted layer pixel is part
    of the hole. A 64x64 pixel is a hole when at least `threshold` of its area was painted."""
    if not isinstance(value, dict) or value.get("background") is None:
        raise InputError(PICK_A_FACE)
    background = editor_picture(value["background"], "the face")
    if background.ndim != 3 or background.shape[2] < 3:
        raise InputError("The picture in the editor is not an RGB image.")
    face = prepare_face(background[..., :3])
    painted = np.zeros(background.shape[:2], bool)
    for layer in value.get("layers") or []:
        if layer is not None:
            painted |= layer_alpha(editor_picture(layer, "a painted layer", rgba=True), background.shape[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # paint outside the face's crop is simply not part of it
        hole = downscale_hole(painted, IMAGE_SIZE, coverage=threshold)
    if painted.any() and not hole.any():
        raise InputError("The paint misses the face: paint over the face itself.")
    return face, hole


def read_canvas(value):
    """Either kind of value (the page's painter or an API editor) -> (face, hole)."""
    if isinstance(value, dict) and "face" in value:
        return read_painter(value)
    return read_editor(value)


def preset_hole(name, seed=0, size=IMAGE_SIZE):
    """A preset hole (bool size x size); boxes in sixty-fourths of the face."""
    hole = np.zeros((size, size), bool)
    at = lambda n: n * size // 64  # noqa: E731
    if name == "center box":
        hole[at(16):at(48), at(16):at(48)] = True
    elif name == "eyes band":
        hole[at(18):at(34), at(6):at(58)] = True
    elif name == "left half":
        hole[:, : size // 2] = True
    elif name == "random blob":
        hole = random_walk_hole(np.random.default_rng(seed), size)
    else:
        raise InputError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return hole


def legend_html():
    """The latent mask's colours and the confidence colormap, as text and CSS (no bitmaps)."""
    swatch = '<span class="mg-swatch" style="background:rgb{}"></span>'
    states = " ".join(f"{swatch.format(tuple(c))}{name}" for name, c in LEGEND.items())
    bar = f'<span class="mg-colorbar" style="background:{colormap_css()}"></span>'
    return (f'<div class="mg-legend">Latent mask: {states}<br>'
            f'Confidence (probability of each decided token, log scale): 0.001 {bar} 1</div>')


# -- exports -------------------------------------------------------------------------------------
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


def export_run(frames, folder, stem, scale=4):
    """Write frames (model-resolution pictures) as an animated GIF and a zip of PNGs, both
    enlarged `scale` times; returns both paths."""
    gif_path = os.path.join(folder, f"{stem}.gif")
    save_gif(frames, gif_path, scale=scale)
    zip_path = os.path.join(folder, f"{stem}-frames.zip")
    with zipfile.ZipFile(zip_path, "w") as zf:
        for i, f in enumerate(frames, 1):
            zf.writestr(f"step_{i:02d}.png", png_bytes(enlarge(f, (f.shape[1] * scale, f.shape[0] * scale))))
    return gif_path, zip_path
