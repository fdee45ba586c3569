"""The inpaint command on the shipped checkpoints: outputs, and bad input refused cleanly."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from maskgit.inpaint import main as inpaint_main
from test_images import blank_png


def write(path, array):
    Image.fromarray(array).save(path)
    return str(path)


@pytest.fixture
def files(tmp_path, face):
    mask = np.full((64, 64), 255, np.uint8)
    mask[16:40, 20:44] = 0
    return {"image": write(tmp_path / "face.png", face), "mask": write(tmp_path / "mask.png", mask),
            "tmp": tmp_path}


def run(files, *extra, out="out"):
    args = ["--image", files["image"], "--mask", files["mask"], "--out", str(files["tmp"] / out),
            "--checkpoints", os.path.join(ROOT, "checkpoints"), "--device", "cpu", *extra]
    return inpaint_main(args)


def test_writes_every_step_and_the_result(files):
    assert run(files, "--sweet-spot", "6", "--total-iter", "8", "--seed", "0") == 0
    out = files["tmp"] / "out"
    steps = sorted(p.name for p in out.glob("step_*.png"))
    assert steps == [f"step_{i:02d}.png" for i in range(1, 7)]
    result = np.asarray(Image.open(out / "result_composited.png"))
    original = np.asarray(Image.open(files["image"]))
    assert result.shape == (64, 64, 3)
    assert np.array_equal(result[:14], original[:14])  # known pixels (beyond the seam) kept
    assert (out / "decoding.gif").exists() and (out / "result.png").exists()


def test_the_masked_input_is_what_the_encoder_saw(files):
    """input_masked.png shows the hole filled as --fill says: gray for the course's fill,
    the smooth fill (pipeline.encoder_view) by default; the known pixels as given."""
    import torch
    from maskgit.images import uint8_to_unit, unit_to_uint8
    from maskgit.pipeline import encoder_view
    face = np.asarray(Image.open(files["image"]))
    hole = np.asarray(Image.open(files["mask"])) == 0
    for fill in ("gray", "smooth"):
        assert run(files, "--sweet-spot", "1", "--total-iter", "1", "--fill", fill, out=fill) == 0
        seen = np.asarray(Image.open(files["tmp"] / fill / "input_masked.png"))
        expected = unit_to_uint8(encoder_view(uint8_to_unit(face[None]), torch.from_numpy(hole)[None], fill)[0])
        assert np.abs(seen.astype(int) - expected.astype(int)).max() <= 1, fill
        assert np.array_equal(seen[~hole], face[~hole])
    assert (seen[hole] != 128).any()  # the smooth fill is not the gray one


def test_command_line_entry_point(files):
    proc = subprocess.run([sys.executable, "-m", "maskgit.inpaint", "--image", files["image"], "--mask",
                           files["mask"], "--out", str(files["tmp"] / "cli"), "--total-iter", "3",
                           "--sweet-spot", "3", "--checkpoints", os.path.join(ROOT, "checkpoints")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (files["tmp"] / "cli" / "step_03.png").exists()


@pytest.mark.parametrize("case,expected", [
    ("missing_image", "image not found"),
    ("not_an_image", "not a readable image"),
    ("mask_size", "mask is 32x32 but the image is 64x64"),
    ("empty_hole", "no hole"),
    ("sweet_spot", "sweet spot"),
    ("schedule", "unknown schedule"),
    ("checkpoint", "checkpoint"),
    ("seed_beyond_64_bits", "seed must be a whole number in 0..2**63-1, got 18446744073709551616"),
    ("seed_below_64_bits", "seed must be a whole number in 0..2**63-1, got -9223372036854775809"),
    ("too_many_pixels", "image is 8000x8000 (64 megapixels), over the limit of 40 megapixels"),
])
def test_bad_input_is_refused_and_writes_nothing(files, capsys, case, expected):
    tmp = files["tmp"]
    extra = []
    if case == "missing_image":
        files["image"] = str(tmp / "nope.png")
    elif case == "not_an_image":
        (tmp / "text.png").write_text("hello")
        files["image"] = str(tmp / "text.png")
    elif case == "mask_size":
        files["mask"] = write(tmp / "small.png", np.zeros((32, 32), np.uint8))
    elif case == "empty_hole":
        files["mask"] = write(tmp / "full.png", np.full((64, 64), 255, np.uint8))
    elif case == "sweet_spot":
        extra = ["--sweet-spot", "11", "--total-iter", "10"]
    elif case == "schedule":
        extra = ["--schedule", "zigzag"]
    elif case == "seed_beyond_64_bits":
        extra = ["--seed", "18446744073709551616"]
    elif case == "seed_below_64_bits":
        extra = ["--seed", "-9223372036854775809"]
    elif case == "too_many_pixels":
        (tmp / "huge.png").write_bytes(blank_png(8000, 8000))
        files["image"] = str(tmp / "huge.png")
    if case == "checkpoint":
        code = inpaint_main(["--image", files["image"], "--mask", files["mask"], "--out", str(tmp / "out"),
                             "--checkpoints", str(tmp / "no-checkpoints"), "--device", "cpu"])
    else:
        code = run(files, *extra)
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp / "out").exists()


def test_odd_images_are_converted_with_a_warning(tmp_path, capsys, face):
    big = np.asarray(Image.fromarray(face).resize((128, 96)).convert("RGBA"))
    image = write(tmp_path / "big.png", big)
    mask = np.full((96, 128), 255, np.uint8)
    mask[30:60, 50:80] = 0
    code = inpaint_main(["--image", image, "--mask", write(tmp_path / "m.png", mask), "--out",
                         str(tmp_path / "o"), "--checkpoints", os.path.join(ROOT, "checkpoints"),
                         "--total-iter", "2", "--sweet-spot", "2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0
    assert "RGBA" in err and "center-cropped and resized" in err
    assert Image.open(tmp_path / "o" / "result.png").size == (64, 64)


def test_a_shorter_run_into_the_same_folder_leaves_only_its_own_steps(files):
    assert run(files, "--sweet-spot", "4", "--total-iter", "4") == 0
    (files["tmp"] / "out" / "notes.txt").write_text("mine")
    assert run(files, "--sweet-spot", "2", "--total-iter", "2") == 0
    out = files["tmp"] / "out"
    assert sorted(p.name for p in out.glob("step_*.png")) == ["step_01.png", "step_02.png"]
    assert (out / "notes.txt").read_text() == "mine"  # only our own step files are replaced


def test_an_out_that_is_a_file_is_refused_before_any_model_work(files, capsys, monkeypatch):
    target = files["tmp"] / "out"
    target.write_text("not a folder")
    monkeypatch.setattr("maskgit.inpaint.load", lambda *a, **k: pytest.fail("the model was loaded"))
    assert run(files) == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and err.count("\n") == 1
    assert target.read_text() == "not a folder"


def test_an_unwritable_out_is_one_line_not_a_traceback(files, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("maskgit.inpaint._write_outputs", refuse)
    assert run(files, "--sweet-spot", "1", "--total-iter", "1") == 2
    err = capsys.readouterr().err
    assert "could not write the results" in err and "Permission denied" in err and "Traceback" not in err


def test_a_hole_outside_the_center_crop_is_a_clear_error(tmp_path, capsys, face):
    wide = np.asarray(Image.fromarray(face).resize((128, 64)))
    mask = np.full((64, 128), 255, np.uint8)
    mask[20:40, 4:24] = 0  # the crop keeps columns 32-95
    code = inpaint_main(["--image", write(tmp_path / "wide.png", wide), "--mask", write(tmp_path / "m.png", mask),
                         "--out", str(tmp_path / "o"), "--checkpoints", os.path.join(ROOT, "checkpoints")])
    err = capsys.readouterr().err
    assert code == 2 and "vanishes" in err and "outside the center crop" in err
    assert not (tmp_path / "o").exists()


def test_a_parent_that_cannot_be_written_is_refused_before_any_model_work(files, capsys, monkeypatch):
    # the results are staged beside --out, so its parent must be writable too
    out = files["tmp"] / "out"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr("maskgit.inpaint.os.access",
                        lambda path, mode: False if str(path) == str(files["tmp"]) else real_access(path, mode))
    monkeypatch.setattr("maskgit.inpaint.load", lambda *a, **k: pytest.fail("the model was loaded"))
    assert run(files) == 2
    assert f"cannot write into {files['tmp']}" in capsys.readouterr().err


def test_help_states_the_limits_and_the_mask_rule(capsys):
    with pytest.raises(SystemExit):
        inpaint_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "at most 40 megapixels" in text and "0..2**63-1" in text
    assert "gray levels 0..127 count as hole, 128..255 as known" in text and "EXIF orientation" in text


def test_a_palette_gif_is_named_by_its_mode_and_closed(tmp_path, capsys, face):
    from PIL import Image as PILImage
    frames = [PILImage.fromarray(face).convert("P"), PILImage.fromarray(face[::-1]).convert("P")]
    frames[0].save(tmp_path / "face.gif", save_all=True, append_images=frames[1:])
    mask = np.full((64, 64), 255, np.uint8)
    mask[16:40, 20:44] = 0
    code = inpaint_main(["--image", str(tmp_path / "face.gif"), "--mask", write(tmp_path / "m.png", mask),
                         "--out", str(tmp_path / "o"), "--checkpoints", os.path.join(ROOT, "checkpoints"),
                         "--total-iter", "2", "--sweet-spot", "2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "converted from P to RGB" in err and "only the first is used" in err
    assert "RGBA" not in err and "unclosed file" not in err


def test_steps_that_change_nothing_on_screen_are_counted_in_the_gif_warning(tmp_path, capsys, face):
    mask = np.full((64, 64), 255, np.uint8)
    mask[20:24, 20:24] = 0  # one token: decided at one step, the other steps look alike
    code = inpaint_main(["--image", write(tmp_path / "f.png", face), "--mask", write(tmp_path / "m.png", mask),
                         "--out", str(tmp_path / "o"), "--checkpoints", os.path.join(ROOT, "checkpoints"),
                         "--total-iter", "4", "--sweet-spot", "4", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert len(list((tmp_path / "o").glob("step_*.png"))) == 4
    with Image.open(tmp_path / "o" / "decoding.gif") as gif:
        shown = gif.n_frames
    assert shown < 4
    assert f"decoding.gif: {4 - shown} of 4 frames equal the frame before them" in err
