"""The studio's UI glue: the painter's value, API editor values, presets, exports."""
import base64
import io
import os
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

from demo import helpers as ui


def test_painter_round_trip_recovers_face_and_hole_exactly(face):
    hole = np.zeros((64, 64), bool)
    hole[10:30, 20:50] = True
    hole[40, 7] = True  # a single pixel: the painter works at the face's own resolution
    value = ui.painter_value(face, hole)
    assert value["face"].startswith("data:image/png;base64,") and len(value["hole"]) < 700
    got_face, got_hole = ui.read_painter(value)
    assert np.array_equal(got_face, face) and np.array_equal(got_hole, hole)
    assert not ui.read_canvas(ui.painter_value(face))[1].any()  # no paint: an empty hole


def test_painter_bits_match_the_pages_packing():
    # painter.js packs pixel p into byte p >> 3, bit 7 - (p & 7) (numpy's packbits order)
    raw = bytearray(512)
    raw[0], raw[511] = 0b10000000, 0b00000001
    hole = ui.decode_hole(base64.b64encode(bytes(raw)).decode())
    assert hole[0, 0] and hole[63, 63] and hole.sum() == 2


def test_bad_painter_values_are_one_line_messages(face):
    for value in (None, {}, {"face": "not a url"}, {"face": "data:image/png;base64,!!!"},
                  {"face": "data:image/png;base64," + base64.b64encode(b"not a png").decode()}):
        with pytest.raises(ui.InputError) as err:
            ui.read_painter(value)
        assert "\n" not in str(err.value)
    with pytest.raises(ui.InputError, match="could not be read"):
        ui.read_painter({"face": ui.painter_value(face)["face"], "hole": "%%%"})
    with pytest.raises(ui.InputError, match="too large"):
        ui.read_painter({"face": "data:image/png;base64," + "A" * (ui.MAX_DATA_URL + 1)})


def test_editor_round_trip_recovers_face_and_hole(face):
    hole = np.zeros((64, 64), bool)
    hole[10:30, 20:50] = True
    got_face, got_hole = ui.read_editor(ui.editor_value(face, hole))
    assert np.array_equal(got_face, face) and np.array_equal(got_hole, hole)


def test_brush_stroke_on_the_enlarged_canvas(face):
    value = ui.editor_value(face)
    layer = np.zeros((256, 256, 4), np.uint8)
    layer[100:140, 40:200, 3] = 255  # a horizontal stroke 40 px tall
    value["layers"] = [layer]
    _, hole = ui.read_editor(value)
    assert hole[25:35, 10:50].all() and not hole[:20].any() and not hole[40:].any()


def test_a_layer_of_another_size_is_resized_to_the_face(face):
    value = ui.editor_value(face)
    small = np.zeros((128, 128, 4), np.uint8)
    small[32:64, 32:96, 3] = 255  # rows 16..32, cols 16..48 of the face
    value["layers"] = [small]
    _, hole = ui.read_editor(value)
    assert hole[16:32, 16:48].all() and hole.sum() == 16 * 32
    value["layers"] = [np.zeros((128, 64, 4), np.uint8)]
    with pytest.raises(ui.InputError, match="layers need the face's shape"):
        ui.read_editor(value)


def test_uploaded_odd_picture_is_cropped_and_resized():
    """Read as the library reads files: the center square, transparency put onto white."""
    wide = np.zeros((90, 160, 4), np.uint8)
    wide[:, :80] = (200, 0, 0, 255)  # the left half opaque red, the right half transparent black
    face = ui.prepare_face(wide)
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    assert (face[:, :30] == (200, 0, 0)).all() and (face[:, 34:] == 255).all()  # crop x 35-125, seam at 80


def test_an_upload_over_the_pixel_limit_is_one_line(monkeypatch):
    from maskgit import images
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(ui.InputError, match=r"^the picture is 11x10 \(0 megapixels\), over the limit of 0 megapixels$"):
        ui.prepare_face(np.zeros((10, 11, 3), np.uint8))
    assert ui.prepare_face(np.zeros((10, 10, 3), np.uint8)).shape == (64, 64, 3)


def test_missing_face_and_empty_editor_are_clear_messages():
    with pytest.raises(ui.InputError, match="Pick a face"):
        ui.read_editor(None)
    with pytest.raises(ui.InputError, match="Pick a face"):
        ui.read_canvas({"background": None, "layers": [], "composite": None})


@pytest.mark.parametrize("name", ui.PRESETS)
def test_presets_are_partial_holes(name):
    hole = ui.preset_hole(name, seed=3)
    assert hole.shape == (64, 64) and 0.05 < hole.mean() < 0.75
    big = ui.preset_hole(name, seed=3, size=128)
    assert big.shape == (128, 128) and 0.05 < big.mean() < 0.75
    if name != "random blob":  # the same region at any size
        assert np.array_equal(big[::2, ::2], hole)


def test_random_blob_depends_on_seed():
    assert not np.array_equal(ui.preset_hole("random blob", 1), ui.preset_hole("random blob", 2))
    with pytest.raises(ui.InputError):
        ui.preset_hole("star")


def test_paint_outside_the_faces_crop_is_ignored_or_refused(face):
    value = ui.editor_value(face)
    wide = np.zeros((256, 384, 4), np.uint8)
    wide[100:140, 0:40, 3] = 255       # left of the 256-wide center crop (columns 64-319)
    wide[100:140, 180:220, 3] = 255    # inside it
    background = np.zeros((256, 384, 3), np.uint8)
    background[:, 64:320] = value["background"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the studio shows no warning for it
        _, hole = ui.read_editor({"background": background, "layers": [wide]})
    assert hole.sum() == 10 * 10 and hole[30, 35]
    outside = np.zeros((256, 384, 4), np.uint8)
    outside[100:140, 0:40, 3] = 255   # only outside the face
    with pytest.raises(ui.InputError, match="misses the face"):
        ui.read_editor({"background": background, "layers": [outside]})


def test_legend_is_text_and_css_not_pixels():
    html = ui.legend_html()
    assert "<img" not in html and "linear-gradient" in html and "still masked" in html


def test_exports_enlarge_frames_into_a_gif_and_a_zip(tmp_path):
    frames = [np.full((8, 10, 4), v, np.uint8) for v in (0, 100, 200)]
    gif, zpath = ui.export_run(frames, str(tmp_path), "run", scale=4)
    anim = Image.open(gif)
    assert anim.n_frames == 3 and anim.size == (40, 32)
    with zipfile.ZipFile(zpath) as zf:
        assert zf.namelist() == ["step_01.png", "step_02.png", "step_03.png"]
        first = np.asarray(Image.open(io.BytesIO(zf.read("step_02.png"))))
        assert first.shape == (32, 40, 4) and (first == 100).all()


def test_old_exports_are_pruned_and_recent_ones_kept(tmp_path):
    frames = [np.zeros((8, 8, 3), np.uint8), np.ones((8, 8, 3), np.uint8)]
    old_gif, old_zip = ui.export_run(frames, str(tmp_path), "old")
    new_gif, new_zip = ui.export_run(frames, str(tmp_path), "new")
    two_hours_ago = os.path.getmtime(new_gif) - 7200
    for path in (old_gif, old_zip):
        os.utime(path, (two_hours_ago, two_hours_ago))
    assert ui.prune_exports(str(tmp_path), max_age_s=3600) == 2
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in (new_gif, new_zip))
