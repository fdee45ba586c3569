"""`maskgit.evaluate` and `maskgit.bench fid` on a tiny test folder in the course's layout.

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
from maskgit import bench, evaluate
from maskgit.checkpoint import save_checkpoint, weights_digests
from maskgit.pipeline import load_vqgan


def pixel_distance(images, reference, **_):
    return float(np.abs(np.asarray(images, float) - np.asarray(reference, float)).mean())


@pytest.fixture
def test_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.tables, "fid", pixel_distance)
    monkeypatch.setattr(evaluate, "fid", pixel_distance)
    rng = np.random.default_rng(0)
    for sub in ("masked_image", "mask64", "gt"):
        os.makedirs(tmp_path / sub)
    for i in range(4):
        face = synthetic_face(rng)
        known = np.full((64, 64), 255, np.uint8)
        known[16 + i:40 + i, 12:44] = 0
        masked = np.where(known[..., None] == 0, np.uint8(128), face)
        Image.fromarray(face).save(tmp_path / "gt" / f"image_{i:03d}.png")
        Image.fromarray(masked).save(tmp_path / "masked_image" / f"image_{i:03d}.png")
        Image.fromarray(known).save(tmp_path / "mask64" / f"mask_{i:03d}.png")
    return str(tmp_path)


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_evaluate_prints_fid_and_timings(test_dir, capsys):
    code = evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--sweet-spot", "3",
                          "--total-iter", "3", "--json", "--quiet", "--device", "cpu"])
    assert code == 0
    out = last_json(capsys)
    assert out["n_images"] == 4 and out["fill"] == "smooth"
    for key in ("fid", "fid_composited", "inpaint_seconds", "fid_seconds", "seconds"):
        assert out[key] >= 0
    # pasting the known pixels back can only bring the images closer to the truth
    assert out["fid_composited"] < out["fid"]


def test_evaluate_final_step_is_applied_and_recorded(test_dir, capsys):
    args = ["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--sweet-spot", "3", "--total-iter", "3",
            "--json", "--quiet", "--device", "cpu"]
    assert evaluate.main(args + ["--final-step", "sample"]) == 0
    drawn = last_json(capsys)
    assert evaluate.main(args) == 0  # the default takes the most likely tokens
    greedy = last_json(capsys)
    assert drawn["final_step"] == "sample" and greedy["final_step"] == "mode"
    assert greedy["fid"] != drawn["fid"]  # the last step's tokens changed the images


def test_evaluate_saves_the_images_it_scored_and_how_they_were_made(test_dir, tmp_path, capsys):
    save = tmp_path / "out"
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--sweet-spot", "2", "--total-iter",
                          "2", "--json", "--quiet", "--device", "cpu", "--save-dir", str(save)]) == 0
    printed = last_json(capsys)
    assert json.load(open(save / "evaluate.json")) == printed and printed["final_step"] == "mode"
    gt = [np.asarray(Image.open(os.path.join(test_dir, "gt", f"image_{i:03d}.png"))) for i in range(4)]
    decoded = [np.asarray(Image.open(save / f"fid-image_{i:03d}.png")) for i in range(4)]
    composited = [np.asarray(Image.open(save / f"fid_composited-image_{i:03d}.png")) for i in range(4)]
    # the saved images are the ones scored (the stand-in FID is a pixel distance)
    assert pixel_distance(decoded, gt) == pytest.approx(printed["fid"], abs=1e-9)
    assert pixel_distance(composited, gt) == pytest.approx(printed["fid_composited"], abs=1e-9)


def test_evaluate_scores_in_the_chosen_fid_precision(test_dir, monkeypatch, capsys):
    used = []
    monkeypatch.setattr(evaluate, "fid", lambda images, reference, precision="fp32": used.append(precision) or 1.0)
    code = evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--sweet-spot", "2",
                          "--total-iter", "2", "--json", "--quiet", "--device", "cpu", "--fid-precision", "mixed"])
    assert code == 0
    assert used == ["mixed", "mixed"] and last_json(capsys)["fid_precision"] == "mixed"
    with pytest.raises(SystemExit):  # not a precision the library has
        evaluate.main(["--test-dir", test_dir, "--fid-precision", "fp8"])


def test_bench_merges_rows_into_an_earlier_report(test_dir, tmp_path, capsys):
    out_dir = str(tmp_path / "report")
    common = ["fid", "--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--skip-sweet", "--out", out_dir,
              "--device", "cpu"]
    assert bench.main(common + ["--schedules", "cosine"]) == 0
    first = last_json(capsys)
    assert set(first["schedules"]) == {"cosine"} and "gray_fill" in first["reference"]
    assert bench.main(common + ["--schedules", "linear", "--merge"]) == 0
    merged = json.load(open(os.path.join(out_dir, "fid_results.json")))
    assert set(merged["schedules"]) == {"cosine", "linear"}
    assert merged["schedules"]["cosine"] == first["schedules"]["cosine"]
    assert merged["reference"] == first["reference"]
    capsys.readouterr()
    # a merge with other settings would mix incomparable numbers: refused, report untouched
    assert bench.main(common + ["--schedules", "square", "--merge", "--seed", "1"]) == 2
    assert "seed" in capsys.readouterr().err
    assert bench.main(common + ["--schedules", "square", "--merge", "--final-step", "sample"]) == 2
    assert "final_step" in capsys.readouterr().err
    assert json.load(open(os.path.join(out_dir, "fid_results.json"))) == merged
    # a report from before --final-step existed was made with draws: it merges only with draws
    del merged["final_step"]
    json.dump(merged, open(os.path.join(out_dir, "fid_results.json"), "w"))
    assert bench.main(common + ["--schedules", "square", "--merge"]) == 2
    assert "final_step" in capsys.readouterr().err
    assert bench.main(common + ["--schedules", "square", "--merge", "--final-step", "sample"]) == 0
    merged = json.load(open(os.path.join(out_dir, "fid_results.json")))
    assert merged["final_step"] == "sample" and set(merged["schedules"]) == {"cosine", "linear", "square"}
    # rows from other weights (here: one decoder weight changed) are other numbers: refused
    other = tmp_path / "other_weights"
    shutil.copytree(CHECKPOINTS, other)
    vqgan = load_vqgan(str(other))
    with torch.no_grad():
        vqgan.decoder.conv_out.bias.add_(0.01)
    save_checkpoint(vqgan, str(other), "vqgan", "vqgan", {})
    capsys.readouterr()
    with_other = [str(other) if a == CHECKPOINTS else a for a in common]
    assert bench.main(with_other + ["--schedules", "exp", "--merge", "--final-step", "sample"]) == 2
    assert "checkpoints" in capsys.readouterr().err
    assert json.load(open(os.path.join(out_dir, "fid_results.json"))) == merged
    # a report that does not name its weights cannot vouch for them either
    del merged["checkpoints"]
    json.dump(merged, open(os.path.join(out_dir, "fid_results.json"), "w"))
    assert bench.main(common + ["--schedules", "exp", "--merge", "--final-step", "sample"]) == 2
    assert "does not record the weights" in capsys.readouterr().err


def test_sweet_spot_cells_can_be_added_to_an_interrupted_report(test_dir, tmp_path, capsys):
    out_dir = str(tmp_path / "report")
    common = ["fid", "--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--out", out_dir, "--device", "cpu"]
    assert bench.main(common + ["--schedules", "cosine", "--skip-sweet"]) == 0
    # as if the run had been killed: only the partial file is left
    os.rename(os.path.join(out_dir, "fid_results.json"), os.path.join(out_dir, "fid_results.partial.json"))
    assert bench.main(common + ["--schedules", "--sweet-totals", "8", "--merge"]) == 0
    report = json.load(open(os.path.join(out_dir, "fid_results.json")))
    assert set(report["sweet_spot_table"]) == {"8,8", "10,10"}  # (10, 10) is the cosine row
    assert report["sweet_spot_table"]["10,10"]["fid"] == report["schedules"]["cosine"]["fid"]
    assert report["sweet_spot_table"]["8,8"]["course_fid"] == 33.82
    # the finished report supersedes the partial one, which would otherwise linger beside it
    assert not os.path.exists(os.path.join(out_dir, "fid_results.partial.json"))


def test_fid_vs_iterations_curve_is_plotted_and_merged(test_dir, tmp_path, capsys):
    out_dir = str(tmp_path / "report")
    common = ["fid", "--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--out", out_dir, "--device", "cpu",
              "--schedules", "--skip-sweet", "--curve-totals", "1", "3"]
    assert bench.main(common + ["--curve-schedules", "cosine", "linear", "--curve-limit", "2"]) == 0
    report = last_json(capsys)
    assert report["curve_images"] == 2 and report["schedules"] == {}
    assert set(report["curve"]) == {"cosine", "linear"}
    assert set(report["curve"]["cosine"]) == {"1", "3"}
    # one step decides every token at once; three steps see earlier choices: different faces
    assert report["curve"]["cosine"]["1"] != report["curve"]["cosine"]["3"]
    assert os.path.getsize(os.path.join(out_dir, "fid_vs_iterations.png")) > 1000
    assert bench.main(common + ["--curve-schedules", "square", "--curve-limit", "2", "--merge"]) == 0
    merged = json.load(open(os.path.join(out_dir, "fid_results.json")))
    assert set(merged["curve"]) == {"cosine", "linear", "square"}
    assert merged["curve"]["cosine"] == report["curve"]["cosine"]
    capsys.readouterr()
    # points over other faces would not be comparable: refused
    assert bench.main(common + ["--curve-schedules", "cubic", "--curve-limit", "3", "--merge"]) == 2
    assert "curve" in capsys.readouterr().err


def test_seed_noise_scores_more_seeds_keeps_them_and_refuses_mixing(test_dir, tmp_path, capsys):
    from scripts.seed_noise import main as seed_noise
    out = str(tmp_path / "bench")
    common = ["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--out", out, "--sweet-spot", "2",
              "--total-iter", "2", "--device", "cpu"]
    assert seed_noise(common + ["--seeds", "0", "1"]) == 0
    report = json.load(open(os.path.join(out, "fid_seeds.json")))
    assert [r["seed"] for r in report["rows"]] == [0, 1]
    assert report["settings"]["total_iter"] == 2 and report["settings"]["n_images"] == 4
    assert report["weights"] == weights_digests(CHECKPOINTS) and report["cpu"]
    # each row is exactly what `maskgit.evaluate` scores for that seed
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--sweet-spot", "2",
                          "--total-iter", "2", "--seed", "1", "--json", "--quiet", "--device", "cpu"]) == 0
    single = last_json(capsys)
    assert report["rows"][1]["fid"] == round(single["fid"], 3)
    fids = [r["fid"] for r in report["rows"]]
    assert report["summary"]["fid"]["min"] == min(fids) and report["summary"]["fid"]["max"] == max(fids)
    # a later call keeps the seeds it has and adds rows printed by `maskgit.evaluate --json`
    printed = tmp_path / "seed7.log"
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--sweet-spot", "2",
                          "--total-iter", "2", "--seed", "7", "--json", "--quiet", "--device", "cpu"]) == 0
    printed.write_text(capsys.readouterr().out)
    assert seed_noise(common + ["--seeds", "1", "--import", str(printed)]) == 0
    assert "seed 1: already in" in capsys.readouterr().out
    assert [r["seed"] for r in json.load(open(os.path.join(out, "fid_seeds.json")))["rows"]] == [0, 1, 7]
    # a row from other settings does not mix in: refused, the file unchanged
    before = open(os.path.join(out, "fid_seeds.json")).read()
    assert evaluate.main(["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--sweet-spot", "3",
                          "--total-iter", "3", "--seed", "8", "--json", "--quiet", "--device", "cpu"]) == 0
    printed.write_text(capsys.readouterr().out)
    assert seed_noise(common + ["--seeds", "1", "--import", str(printed)]) == 2
    assert "seed 8 was run with" in capsys.readouterr().err
    assert open(os.path.join(out, "fid_seeds.json")).read() == before
    printed.write_text("Traceback: not a result\n")  # nor does something that is not a result
    assert seed_noise(common + ["--seeds", "1", "--import", str(printed)]) == 2
    assert "not a readable" in capsys.readouterr().err
    assert open(os.path.join(out, "fid_seeds.json")).read() == before
    # other settings asked for: the earlier rows are not theirs, so it starts over
    assert seed_noise([a if a != "2" else "3" for a in common] + ["--seeds", "5"]) == 0
    assert "starting over" in capsys.readouterr().out
    report = json.load(open(os.path.join(out, "fid_seeds.json")))
    assert [r["seed"] for r in report["rows"]] == [5] and report["settings"]["total_iter"] == 3


@pytest.mark.parametrize("flags,msg", [
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--limit", "1"], "--limit must be >= 2"),
    (["--limit", "-3"], "--limit must be >= 2"),
])
def test_impossible_counts_are_one_line_errors(test_dir, capsys, flags, msg):
    for command in (evaluate.main, bench.main):
        args = ["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--device", "cpu"] + flags
        code = command((["fid", "--schedules", "cosine", "--skip-sweet"] if command is bench.main else []) + args)
        err = capsys.readouterr().err
        assert code == 2 and msg in err and err.count("\n") == 1


def test_the_batch_size_is_recorded_and_merges_only_with_its_own(test_dir, tmp_path, capsys):
    # each batch draws from seed + its first index: another batch size is another draw
    args = ["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--sweet-spot", "2", "--total-iter", "2",
            "--json", "--quiet", "--device", "cpu", "--batch-size", "3"]
    assert evaluate.main(args) == 0
    assert last_json(capsys)["batch_size"] == 3
    out_dir = str(tmp_path / "report")
    common = ["fid", "--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--skip-sweet", "--out", out_dir,
              "--device", "cpu"]
    assert bench.main(common + ["--schedules", "cosine"]) == 0
    report = json.load(open(os.path.join(out_dir, "fid_results.json")))
    assert report["batch_size"] == 64 and report["schedule_floor_fixed"] is True
    assert bench.main(common + ["--schedules", "linear", "--merge", "--batch-size", "2"]) == 2
    assert "batch_size" in capsys.readouterr().err
    # a report from before session 23: made in batches of 64, its rows decoded before the floor fix
    del report["batch_size"], report["schedule_floor_fixed"]
    json.dump(report, open(os.path.join(out_dir, "fid_results.json"), "w"))
    assert bench.main(common + ["--schedules", "linear", "--merge"]) == 0
    merged = json.load(open(os.path.join(out_dir, "fid_results.json")))
    assert merged["batch_size"] == 64 and set(merged["schedules"]) == {"cosine", "linear"}
    assert "schedule_floor_fixed" not in merged  # its cosine row is still an old one
    fresh = dict(merged, schedules={"square": merged["schedules"]["linear"]}, schedule_floor_fixed=True)
    combined = bench.combine_reports([report, fresh])  # the old report's batch size is the legacy 64
    assert combined["batch_size"] == 64 and "schedule_floor_fixed" not in combined
    assert bench.combine_reports([fresh, fresh])["schedule_floor_fixed"] is True


@pytest.mark.parametrize("seed", ["18446744073709551616", "-1"])
def test_a_seed_out_of_range_is_a_one_line_error_before_any_work(test_dir, tmp_path, capsys, seed):
    out = tmp_path / "report"
    for command in (evaluate.main, bench.main):
        args = ["--test-dir", test_dir, "--checkpoints", CHECKPOINTS, "--device", "cpu", "--seed", seed]
        code = command(["fid", "--schedules", "cosine", "--skip-sweet", "--out", str(out)] + args
                       if command is bench.main else args)
        err = capsys.readouterr().err
        assert code == 2 and f"seed must be a whole number in 0..2**63-1, got {seed}" in err and err.count("\n") == 1
    assert not out.exists()
