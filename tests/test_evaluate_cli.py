"""`maskgit-evaluate` and `maskgit-bench fid` on a tiny test folder in the course's layout.

The FID function itself is tested in test_fid.py; here it is replaced by a cheap stand-in
(mean absolute pixel difference) so the commands' plumbing runs in seconds."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import synthetic_face
from test_shipped import CHECKPOINTS
from maskgit import evaluate
from maskgit.bench import fid_tables
from maskgit.bench import main as bench_main
from maskgit.checkpoint import file_digest, save_checkpoint
from maskgit.guided import Guide


def pixel_distance(images, reference, **_):
    return float(np.abs(np.asarray(images, float) - np.asarray(reference, float)).mean())


@pytest.fixture
def test_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(fid_tables, "fid", pixel_distance)
    monkeypatch.setattr(evaluate, "fid", pixel_distance)
    rng = np.random.default_rng(0)
    for sub in ("masked_image", "mask64", "gt"):
        os.makedirs(tmp_path / "set" / sub)
    for i in range(4):
        face = synthetic_face(rng)
        known = np.full((64, 64), 255, np.uint8)
        known[16 + i:40 + i, 12:44] = 0
        masked = np.where(known[..., None] == 0, np.uint8(128), face)
        Image.fromarray(face).save(tmp_path / "set" / "gt" / f"image_{i:03d}.png")
        Image.fromarray(masked).save(tmp_path / "set" / "masked_image" / f"image_{i:03d}.png")
        Image.fromarray(known).save(tmp_path / "set" / "mask64" / f"mask_{i:03d}.png")
    return str(tmp_path / "set")


@pytest.fixture(scope="module")
def guided_checkpoints(tmp_path_factory):
    """The shipped tokenizer and transformer beside a guide that changes the decoded image."""
    folder = tmp_path_factory.mktemp("guided")
    for name in ("vqgan", "transformer"):
        for ext in ("json", "safetensors"):
            shutil.copy(os.path.join(CHECKPOINTS, f"{name}.{ext}"), folder / f"{name}.{ext}")
    torch.manual_seed(0)
    guide = Guide()
    torch.nn.init.normal_(guide.conv_out.weight, std=0.01)
    save_checkpoint(guide, str(folder), "guide", "guide", {"vqgan": file_digest(str(folder / "vqgan.safetensors"))})
    return str(folder)


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


QUICK = ["--sweet-spot", "2", "--total-iter", "2", "--json", "--quiet", "--device", "cpu"]


def test_evaluate_prints_fid_and_timings(test_dir, capsys):
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, *QUICK]) == 0
    out = last_json(capsys)
    assert out["n_images"] == 4 and out["fill"] == "smooth" and out["set"] == "test"
    for key in ("fid", "fid_composited", "inpaint_seconds", "fid_seconds", "seconds", "psnr_known"):
        assert out[key] >= 0
    # pasting the known pixels back can only bring the images closer to the truth
    assert out["fid_composited"] < out["fid"]


def test_evaluate_final_step_is_applied_and_recorded(test_dir, capsys):
    args = ["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, *QUICK, "--decoder", "tokens"]
    assert evaluate.main(args + ["--final-step", "sample"]) == 0
    drawn = last_json(capsys)
    assert evaluate.main(args) == 0  # the default takes the most likely tokens
    greedy = last_json(capsys)
    assert drawn["final_step"] == "sample" and greedy["final_step"] == "mode"
    assert greedy["fid"] != drawn["fid"]  # the last step's tokens changed the images


def test_evaluate_saves_the_images_it_scored_and_how_they_were_made(test_dir, tmp_path, capsys):
    save = tmp_path / "out"
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, *QUICK, "--save-dir", str(save)]) == 0
    printed = last_json(capsys)
    assert json.load(open(save / "evaluate.json")) == printed
    gt = [np.asarray(Image.open(os.path.join(test_dir, "gt", f"image_{i:03d}.png"))) for i in range(4)]
    decoded = [np.asarray(Image.open(save / f"fid-image_{i:03d}.png")) for i in range(4)]
    composited = [np.asarray(Image.open(save / f"fid_composited-image_{i:03d}.png")) for i in range(4)]
    # the saved images are the ones scored (the stand-in FID is a pixel distance)
    assert pixel_distance(decoded, gt) == pytest.approx(printed["fid"], abs=1e-9)
    assert pixel_distance(composited, gt) == pytest.approx(printed["fid_composited"], abs=1e-9)


def test_evaluate_scores_in_the_chosen_fid_precision(test_dir, monkeypatch, capsys):
    used = []
    monkeypatch.setattr(evaluate, "fid", lambda images, reference, precision="fp32": used.append(precision) or 1.0)
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, *QUICK, "--fid-precision", "mixed"]) == 0
    assert used == ["mixed", "mixed"] and last_json(capsys)["fid_precision"] == "mixed"
    with pytest.raises(SystemExit):  # not a precision the library has
        evaluate.main(["--test-dir", test_dir, "--fid-precision", "fp8"])


def test_both_decoders_are_scored_from_the_same_tokens(test_dir, guided_checkpoints, tmp_path, monkeypatch, capsys):
    cache = str(tmp_path / "tokens.safetensors")
    args = ["--test-dir", test_dir, "--checkpoints", guided_checkpoints, *QUICK, "--tokens", cache]
    assert evaluate.main(args + ["--decoder", "both"]) == 0
    both = last_json(capsys)
    assert both["decoder"] == "guided" and both["weights"]["guide"] == file_digest(f"{guided_checkpoints}/guide.safetensors")
    assert both["fid"] != both["tokens_fid"] and both["psnr_known"] != both["tokens_psnr_known"]
    # the tokens are kept: scoring one decoder again runs no transformer pass
    from maskgit.pipeline import MaskGIT
    monkeypatch.setattr(MaskGIT, "_logits", lambda *a: pytest.fail("decoded again"))
    assert evaluate.main(args + ["--decoder", "tokens"]) == 0
    tokens_only = last_json(capsys)
    assert tokens_only["fid"] == both["tokens_fid"] and "guide" not in tokens_only["weights"]


def test_a_guide_of_another_tokenizer_is_not_used(test_dir, guided_checkpoints, tmp_path, capsys):
    folder = tmp_path / "stale"
    shutil.copytree(guided_checkpoints, folder)
    meta = json.load(open(folder / "guide.json"))
    meta["info"]["vqgan"] = "0123456789abcdef"
    json.dump(meta, open(folder / "guide.json", "w"))
    with pytest.warns(UserWarning, match="another tokenizer"):
        assert evaluate.main(["--test-dir", test_dir, "--checkpoints", str(folder), *QUICK]) == 0
    assert last_json(capsys)["decoder"] == "tokens"
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", str(folder), *QUICK, "--decoder", "guided"]) == 2
    assert "guide" in capsys.readouterr().err


def test_val_folders_seed_spreads_and_reconstructions(tiny_data_root, capsys, monkeypatch):
    monkeypatch.setattr(evaluate, "fid", pixel_distance)
    val = os.path.join(tiny_data_root, "val")
    assert evaluate.main(["--val-dir", val, "--limit", "3", "--checkpoints", CHECKPOINTS, *QUICK, "--seeds", "0", "1"]) == 0
    spread = last_json(capsys)
    assert spread["set"] == "val" and spread["n_images"] == 3 and [s["seed"] for s in spread["seeds"]] == [0, 1]
    fids = [s["fid"] for s in spread["seeds"]]
    assert fids[0] != fids[1] and spread["spread"]["fid"]["mean"] == pytest.approx(sum(fids) / 2)
    assert evaluate.main(["--val-dir", val, "--limit", "3", "--checkpoints", CHECKPOINTS, "--recon", "--json",
                          "--device", "cpu"]) == 0
    recon = last_json(capsys)
    assert recon["mode"] == "recon" and recon["psnr"] > 15 and recon["fid"] >= 0


@pytest.mark.parametrize("flags, msg", [(["--batch-size", "0"], "--batch-size"), (["--limit", "1"], "--limit"),
                                        (["--sweet-spot", "5"], "sweet spot"), (["--schedule", "zigzag"], "zigzag")])
def test_impossible_settings_are_one_line_errors(test_dir, capsys, flags, msg):
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, *QUICK, *flags]) == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1


def test_bench_tables_score_every_decoder_and_resume_a_killed_report(test_dir, guided_checkpoints, tmp_path,
                                                                     monkeypatch, capsys):
    out = str(tmp_path / "report")
    common = ["fid", "--test-dir", test_dir, "--checkpoints", guided_checkpoints, "--out", out, "--device", "cpu",
              "--sweet-totals", "8"]
    assert bench_main(common + ["--schedules", "cosine", "--skip-sweet"]) == 0
    first = last_json(capsys)
    cosine = first["schedules"]["cosine"]
    assert set(cosine) == {"guided", "tokens", "course_fid"} and cosine["course_fid"] == 32.93
    assert cosine["guided"]["fid"] != cosine["tokens"]["fid"]
    assert set(first["reference"]) >= {"gray_fill", "tokenizer_reconstruction"}
    # evaluate's default settings are the table's (10, 10) cell
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", guided_checkpoints, "--json", "--quiet",
                          "--device", "cpu", "--decoder", "both"]) == 0
    same = last_json(capsys)
    assert (round(same["fid"], 2), round(same["tokens_fid"], 2)) == (cosine["guided"]["fid"], cosine["tokens"]["fid"])
    # a second run keeps the rows it has and adds the rest
    calls = []
    real = fid_tables.FIDTables.cells
    monkeypatch.setattr(fid_tables.FIDTables, "cells", lambda self, *a, **k: calls.append(a) or real(self, *a, **k))
    assert bench_main(common + ["--schedules", "cosine", "linear"]) == 0
    report = last_json(capsys)
    assert [c[0] for c in calls] == ["linear", "cosine"]  # linear's row, then the (8, 8) cell
    assert report["schedules"]["cosine"] == cosine and set(report["sweet_spot_table"]) == {"10,10", "8,8"}
    # other settings do not mix with the report's rows
    assert bench_main(common + ["--schedules", "cosine", "--seed", "3"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert os.path.exists(os.path.join(out, "schedules.png"))


@pytest.mark.parametrize("seed", ["18446744073709551616", "-1"])
def test_seeds_out_of_range_are_refused_before_anything_is_written(test_dir, tmp_path, capsys, seed):
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, *QUICK, "--seed", seed]) == 2
    assert "2**63-1" in capsys.readouterr().err
    out = tmp_path / "report"
    assert bench_main(["fid", "--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--out", str(out), "--seed", seed]) == 2
    assert not out.exists()
