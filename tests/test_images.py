"""Files -> model pixels: one reading for training and serving, every mode, EXIF, limits."""
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from conftest import synthetic_face
from maskgit import images
from maskgit.data import load_image_folder
from maskgit.errors import MaskGITError
from maskgit.images import (HOLE_MAX_GRAY, load_image, load_mask, mask_to_model_hole, to_model_rgb,
                            uint8_to_model, uint8_to_unit, unit_to_uint8)

ORIENTATION = 0x0112


def gradient(h, w):
    """A smooth RGB picture (so that JPEG keeps it close)."""
    y, x = np.mgrid[:h, :w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1).astype(np.uint8)


def save_jpeg_turned(displayed, path, orientation):
    """Store `displayed` (a PIL image) on its side with the EXIF orientation that turns it back,
    as a camera held upright does."""
    stored = displayed.transpose({6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation])
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    stored.save(path, quality=95, exif=exif)


def rgba_picture(tmp_path):
    rgba = np.dstack([gradient(80, 100), np.tile(np.linspace(0, 255, 100).astype(np.uint8), (80, 1))])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")


def jpeg_256(tmp_path):
    Image.fromarray(gradient(256, 256)).save(tmp_path / "a.jpg", quality=90)


def jpeg_turned(tmp_path):
    save_jpeg_turned(Image.fromarray(gradient(96, 64)), tmp_path / "a.jpg", 6)


@pytest.mark.parametrize("make", [rgba_picture, jpeg_256, jpeg_turned])
def test_a_training_sample_and_a_served_input_of_one_file_are_the_same_pixels(tmp_path, make):
    make(tmp_path)
    (path,) = tmp_path.iterdir()
    trained_on = load_image_folder(str(tmp_path))[0].permute(1, 2, 0).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        served, _ = load_image(path)
    assert trained_on.shape == served.shape == (64, 64, 3)
    assert np.array_equal(trained_on, served)


def test_an_ordinary_64x64_rgb_face_is_read_as_stored(tmp_path, face):
    Image.fromarray(face).save(tmp_path / "face.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to convert, nothing to say
        served, size = load_image(tmp_path / "face.png")
    assert size == (64, 64) and np.array_equal(served, face)
    assert np.array_equal(load_image_folder(str(tmp_path))[0].permute(1, 2, 0).numpy(), face)


def test_transparency_is_put_onto_white_for_training_too(tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    assert (load_image_folder(str(tmp_path)) == 255).all()


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "F"])
def test_16_bit_pictures_keep_their_tones(mode):
    eight = np.tile(np.arange(256, dtype=np.uint8), (64, 1))[:, ::4]  # 64x64 gray ramp
    sixteen = eight.astype(np.uint32) * 257  # the same tones in 16 bits (0..65535)
    if mode == "I;16B":
        img = Image.frombytes(mode, (64, 64), sixteen.astype(">u2").tobytes())
    else:
        img = Image.fromarray(sixteen.astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
        assert img.mode == mode
    with pytest.warns(UserWarning, match=f"converted from {mode} to RGB .0..65535 scaled"):
        rgb = to_model_rgb(img)
    assert np.abs(rgb.astype(int) - eight[..., None]).max() <= 1


def test_a_16_bit_png_file_equals_its_8_bit_version(tmp_path):
    eight = gradient(64, 64)[..., 0]
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    with pytest.warns(UserWarning, match="I;16"):
        rgb, _ = load_image(tmp_path / "deep.png")
    assert np.abs(rgb.astype(int) - eight[..., None]).max() <= 1


def test_float_pictures_in_0_1_are_scaled_to_0_255():
    img = Image.fromarray(np.full((64, 64), 0.5, np.float32))
    with pytest.warns(UserWarning, match="0..1 scaled"):
        assert (to_model_rgb(img) == 128).all()


@pytest.mark.parametrize("mode", ["P", "LA", "PA", "L", "1", "CMYK", "La", "RGBa"])
def test_the_warning_names_the_mode_the_picture_had(mode):
    img = Image.fromarray(synthetic_face(np.random.default_rng(0))).convert(mode)
    with pytest.warns(UserWarning, match=f"face: converted from {mode} to RGB") as caught:
        to_model_rgb(img, name="face")
    assert len(caught) == 1


def test_a_palette_picture_with_a_transparent_colour_shows_white_there():
    img = Image.fromarray(np.zeros((64, 64), np.uint8), "P")
    img.putpalette([10, 20, 30] * 256)
    img.info["transparency"] = 0
    with pytest.warns(UserWarning, match="from P to RGB, transparency onto white"):
        assert (to_model_rgb(img) == 255).all()


def test_an_animated_gif_is_read_from_its_first_frame_and_closed(tmp_path):
    frames = [Image.fromarray(synthetic_face(np.random.default_rng(i))).convert("P") for i in range(3)]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arr, size = load_image(tmp_path / "moving.gif")
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    assert not [m for m in messages if m.startswith("ResourceWarning")], messages
    assert any("only the first is used" in m for m in messages)
    assert any("converted from P to RGB" in m for m in messages), messages
    assert size == (64, 64)
    assert np.array_equal(arr, np.asarray(frames[0].convert("RGB")))


@pytest.mark.parametrize("orientation", [6, 8])
def test_an_exif_turned_photo_and_a_mask_drawn_on_it_line_up(tmp_path, orientation):
    shown = np.full((96, 64, 3), 255, np.uint8)  # portrait, as a viewer shows it
    shown[40:56, 8:24] = 0                          # a dark patch inside the center crop (rows 16-79)
    save_jpeg_turned(Image.fromarray(shown), tmp_path / "photo.jpg", orientation)
    mask = np.full((96, 64), 255, np.uint8)
    mask[40:56, 8:24] = 0                           # drawn over the patch
    Image.fromarray(mask).save(tmp_path / "mask.png")
    save_jpeg_turned(Image.fromarray(mask), tmp_path / "mask.jpg", orientation)  # a mask stored turned too

    with pytest.warns(UserWarning) as caught:
        face, size = load_image(tmp_path / "photo.jpg")
    assert any(f"EXIF orientation ({orientation})" in str(w.message) for w in caught)
    assert size == (64, 96)
    patch = np.zeros((64, 64), bool)
    patch[24:40, 8:24] = True                       # the patch after the crop
    assert face[patch].max() < 60 and face[~patch].min() > 150
    assert np.array_equal(load_mask(tmp_path / "mask.png", size), patch)
    with pytest.warns(UserWarning, match="EXIF"):
        assert np.array_equal(load_mask(tmp_path / "mask.jpg", size), patch)


def blank_png(width, height):
    """A valid 1-bit PNG of `width` x `height` zeros: a few KB on disk however large."""
    row = bytes(1 + (width + 7) // 8)
    data = zlib.compress(row * height)

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_a_picture_over_the_pixel_limit_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    path.write_bytes(blank_png(8000, 8000))  # 64 megapixels in ~10 KB
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("the pixels were decoded"))
    with pytest.raises(MaskGITError, match="8000x8000 .64 megapixels., over the limit of 40 megapixels") as e:
        load_image(path)
    assert "\n" not in str(e.value)
    with pytest.raises(MaskGITError, match="mask is 8000x8000"):
        load_mask(path, (8000, 8000))
    with pytest.raises(MaskGITError, match="over the limit"):
        load_image_folder(str(tmp_path))


def test_the_pixel_limit_is_a_setting(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "small.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 64 * 64 - 1)
    with pytest.raises(MaskGITError, match="over the limit"):
        load_image(tmp_path / "small.png")


def test_mask_gray_levels_up_to_the_threshold_are_hole():
    levels = np.arange(256, dtype=np.uint8).repeat(16)[:4096].reshape(64, 64)
    hole = mask_to_model_hole(Image.fromarray(levels))
    assert np.array_equal(hole, levels <= HOLE_MAX_GRAY) and HOLE_MAX_GRAY == 127


def test_a_transparent_mask_background_is_known(tmp_path):
    mask = np.zeros((64, 64, 4), np.uint8)   # transparent everywhere...
    mask[10:20, 10:20] = (0, 0, 0, 255)      # ...but an opaque black hole
    Image.fromarray(mask, "RGBA").save(tmp_path / "mask.png")
    hole = load_mask(tmp_path / "mask.png", (64, 64))
    assert hole.sum() == 100 and hole[15, 15]


def test_pixel_ranges_round_trip_exactly():
    every = torch.arange(256, dtype=torch.uint8).repeat(48).reshape(64, 64, 3)
    unit = uint8_to_unit(every)
    assert unit.shape == (3, 64, 64) and unit.dtype == torch.float32
    assert np.array_equal(unit_to_uint8(unit), every.numpy())
    assert np.array_equal(unit_to_uint8(unit.numpy()), every.numpy())
    batch = every[None].permute(0, 3, 1, 2)
    assert torch.equal(uint8_to_model(batch), batch.float() / 127.5 - 1)
    out_of_range = torch.tensor([-0.5, 2.0]).view(1, 1, 2).expand(3, 1, 2)
    assert np.array_equal(unit_to_uint8(out_of_range)[0, :, 0], [0, 255])
