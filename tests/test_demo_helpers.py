"""UI helpers: editor values, presets, pictures, exports."""
import io
import os
import sys
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "demo"))
import helpers as ui  # noqa: E402


def test_editor_round_trip_recovers_face_and_hole(face):
    hole = np.zeros((64, 64), bool)
    hole[10:30, 20:50] = True
    value = ui.editor_value(face, hole)
    got_face, got_hole = ui.read_editor(value)
    assert np.array_equal(got_face, face)
    assert np.array_equal(got_hole, hole)


def test_brush_stroke_on_the_enlarged_canvas(face):
    value = ui.editor_value(face)
    layer = np.zeros((256, 256, 4), np.uint8)
    layer[100:140, 40:200, 3] = 255  # a horizontal stroke 40 px tall
    value["layers"] = [layer]
    _, hole = ui.read_editor(value)
    assert hole[25:35, 10:50].all() and not hole[:20].any() and not hole[40:].any()


def test_uploaded_odd_picture_is_cropped_and_resized():
    wide = np.zeros((90, 160, 4), np.uint8)
    wide[..., 3] = 255
    face = ui.prepare_face(wide)
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8


def test_missing_face_and_empty_editor_are_clear_messages():
    with pytest.raises(ui.InputError, match="Pick a face"):
        ui.read_editor(None)
    with pytest.raises(ui.InputError, match="Pick a face"):
        ui.read_editor({"background": None, "layers": [], "composite": None})


@pytest.mark.parametrize("name", ui.PRESETS)
def test_presets_are_partial_holes(name):
    hole = ui.preset_hole(name, seed=3)
    assert hole.shape == (64, 64) and 0.05 < hole.mean() < 0.75


def test_random_blob_depends_on_seed():
    assert not np.array_equal(ui.preset_hole("random blob", 1), ui.preset_hole("random blob", 2))
    with pytest.raises(ui.InputError):
        ui.preset_hole("star")


def test_frames_grid_and_exports(tmp_path):
    a = np.zeros((256, 256, 3), np.uint8)
    b = np.full((256, 256, 3), 200, np.uint8)
    f = ui.frame(a, b)
    assert f.shape == (256, 520, 3)
    grid = ui.compare_grid([f, f], ["cosine", "linear"])
    assert grid.shape[1] == 2 * 520 + 12 and grid.shape[0] > 256
    frames = [f, ui.frame(b, a), f]
    gif, zpath = ui.export_run(frames, str(tmp_path), "run")
    anim = Image.open(gif)
    assert anim.n_frames == 3 and anim.size == (520, 256)
    with zipfile.ZipFile(zpath) as zf:
        assert zf.namelist() == ["step_01.png", "step_02.png", "step_03.png"]
        first = np.asarray(Image.open(io.BytesIO(zf.read("step_01.png"))))
        assert np.array_equal(first, f)


def test_old_exports_are_pruned_and_recent_ones_kept(tmp_path):
    frames = [np.zeros((8, 8, 3), np.uint8)] * 2
    old_gif, old_zip = ui.export_run(frames, str(tmp_path), "old")
    new_gif, new_zip = ui.export_run(frames, str(tmp_path), "new")
    two_hours_ago = os.path.getmtime(new_gif) - 7200
    for path in (old_gif, old_zip):
        os.utime(path, (two_hours_ago, two_hours_ago))
    assert ui.prune_exports(str(tmp_path), max_age_s=3600) == 2
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in (new_gif, new_zip))


def test_paint_outside_the_faces_crop_is_ignored(face):
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


def test_masked_view_shows_the_encoders_fill(face):
    hole = np.zeros((64, 64), bool)
    hole[20:40, 10:50] = True
    gray, smooth = ui.masked_view(face, hole, "gray"), ui.masked_view(face, hole, "smooth")
    assert gray.shape == smooth.shape == (64, 64, 3) and gray.dtype == np.uint8
    assert np.array_equal(gray[~hole], face[~hole]) and np.array_equal(smooth[~hole], face[~hole])
    assert (gray[hole] == 128).all()
    # the smooth fill takes its colours from around the hole: its rim matches the face's rim
    rim_face = face[19, 10:50].astype(int)
    assert np.abs(smooth[20, 10:50].astype(int) - rim_face).mean() < np.abs(128 - rim_face).mean()
