import numpy as np
import pytest
import torch

from maskgit.images import mask_to_model_hole
from maskgit.masks import paste_back, pixel_to_token_hole, token_to_pixel
from PIL import Image


def test_token_is_known_only_if_its_whole_block_is_known():
    hole = torch.zeros(64, 64, dtype=torch.bool)
    hole[5, 9] = True          # one pixel in block (1, 2)
    hole[60:64, 60:64] = True  # exactly block (15, 15)
    tokens = pixel_to_token_hole(hole)
    assert tokens.shape == (16, 16)
    assert tokens[1, 2] and tokens[15, 15]
    assert tokens.sum() == 2


def test_batched_conversion_and_back():
    hole = torch.rand(3, 64, 64) > 0.97
    tokens = pixel_to_token_hole(hole)
    assert tokens.shape == (3, 16, 16)
    back = token_to_pixel(tokens)
    assert back.shape == (3, 64, 64)
    assert (back | ~hole).all()  # every hole pixel lies in a hole token


def test_mask_file_convention():
    arr = np.full((64, 64), 255, np.uint8)
    arr[10:20, 10:20] = 0
    hole = mask_to_model_hole(Image.fromarray(arr))
    assert hole[15, 15] and not hole[0, 0] and hole.sum() == 100


def test_paste_back_keeps_known_pixels_beyond_the_feather():
    original = torch.rand(1, 3, 64, 64)
    decoded = torch.rand(1, 3, 64, 64)
    hole = torch.zeros(1, 64, 64, dtype=torch.bool)
    hole[:, 20:40, 20:40] = True
    hard = paste_back(decoded, original, hole, feather=0)
    assert torch.equal(hard[:, :, 20:40, 20:40], decoded[:, :, 20:40, 20:40])
    assert torch.equal(hard[:, :, :20], original[:, :, :20])
    soft = paste_back(decoded, original, hole, feather=1)
    assert torch.equal(soft[:, :, 20:40, 20:40], decoded[:, :, 20:40, 20:40])  # hole fully decoded
    assert torch.equal(soft[:, :, :19], original[:, :, :19])                    # far pixels exact
    ring = soft[:, :, 19, 25]
    assert not torch.equal(ring, original[:, :, 19, 25])                      # seam is blended


def test_a_thin_stroke_on_a_larger_mask_survives_the_resize():
    arr = np.full((256, 256), 255, np.uint8)
    arr[:, 1] = 0  # one pixel wide: a quarter of each 4x4 block it crosses
    hole = mask_to_model_hole(Image.fromarray(arr))
    assert hole[:, 0].all() and hole.sum() == 64
    arr[:, 1] = 255
    arr[100, 100] = 0  # a single pixel is a sixteenth of a model pixel: not a hole
    assert not mask_to_model_hole(Image.fromarray(arr)).any()


def test_hole_pixels_outside_the_crop_are_dropped_with_a_warning():
    arr = np.full((64, 128), 255, np.uint8)
    arr[10:20, 0:10] = 0     # outside the center crop (columns 32-95)
    arr[10:20, 40:50] = 0    # inside
    with pytest.warns(UserWarning, match="100 hole pixels lie outside the center crop"):
        hole = mask_to_model_hole(Image.fromarray(arr))
    assert hole.shape == (64, 64) and hole.sum() == 100 and hole[15, 10]


def test_a_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    from maskgit.errors import MaskGITError
    from maskgit.images import load_image
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4,096 pixels: over twice the limit
    with pytest.raises(MaskGITError, match="more pixels than the limit"):
        load_image(tmp_path / "big.png")


def test_a_ragged_border_changes_only_pixels_next_to_the_other_side():
    from maskgit.masks import roughen_border
    hole = np.zeros((64, 64), bool)
    hole[20:44, 16:40] = True
    ragged = roughen_border(hole, np.random.default_rng(0), rate=0.3)
    changed = ragged ^ hole
    assert 20 < changed.sum() < 120  # about 0.3 of the ~190 pixels of the band
    ys, xs = np.nonzero(changed)
    # every flipped pixel lies in the band: one pixel either side of the rectangle's edge
    assert ((ys >= 19) & (ys <= 44) & (xs >= 15) & (xs <= 40)).all()
    assert not changed[22:42, 18:38].any()
    assert np.array_equal(ragged, roughen_border(hole, np.random.default_rng(0), rate=0.3))


def test_ragged_validation_holes_are_the_brush_holes_with_a_ragged_edge():
    from maskgit.masks import validation_holes
    brush, ragged = validation_holes(6, seed=3), validation_holes(6, seed=3, kind="ragged")
    assert not np.array_equal(brush, ragged)
    assert np.array_equal(brush, validation_holes(6, seed=3))  # the brush holes did not move
    differs = (brush ^ ragged).mean(axis=(1, 2))
    assert (differs > 0).all() and (differs < 0.1).all()
    with pytest.raises(Exception, match="brush, ragged"):
        validation_holes(2, kind="zigzag")

