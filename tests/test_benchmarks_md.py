"""scripts/benchmarks_md.py writes docs/benchmarks.md from the benchmark reports; here on
small hand-made reports, to check that the decoding each report used is stated."""
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def report(final_step=None, fid=40.0, curve=False, **extra):
    r = {"n_images": 747, "fid_precision": "fp32", "seed": 0, "choice_temperature": 4.5, "fill": "smooth",
         "reference": {"gray_fill": 53.24},
         "schedules": {"cosine": {"fid": fid, "fid_composited": fid / 2, "course_fid": 32.93}},
         "sweet_spot_table": {"8,8": {"fid": fid + 1, "fid_composited": 20.0}}, **extra}
    if final_step:
        r["final_step"] = final_step
    if curve:
        r.update(curve={"cosine": {"1": 80.0, "4": 60.0}}, curve_images=256)
    return r


def render(tmp_path, **reports):
    bench = tmp_path / "bench"
    bench.mkdir()
    for name, content in reports.items():
        (bench / f"{name}.json").write_text(json.dumps(content))
    out = tmp_path / "benchmarks.md"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "benchmarks_md.py"), "--bench", str(bench),
                    "--out", str(out)], check=True, capture_output=True)
    return out.read_text()


def test_a_report_made_the_new_way_shows_the_previous_release_beside_it(tmp_path):
    md = render(tmp_path, fid_results=report("mode", 43.5),
                fid_results_draws=report(None, 44.5, curve=True))
    assert "| cosine | 43.50 | 21.75 | 32.93 | 44.50 / 22.25 |" in md
    assert "| (8,8) | 44.50 | 20.00 | 33.82 | 45.50 / 20.00 |" in md
    assert "--schedules cosine linear square cubic --out docs/bench" in md  # the default needs no flag
    # no curve of its own yet: the previous release's is shown, and said to be
    assert "| cosine | 80.00 | 60.00 |" in md and "previous release's decoding" in md


def test_the_column_needs_the_same_faces_settings_and_weights(tmp_path):
    md = render(tmp_path, fid_results=report("mode", 43.5), fid_results_draws=report(None, 44.5, seed=1))
    assert "44.50 / 22.25" not in md
    assert "| cosine | 43.50 | 21.75 | 32.93 |" in md and "45.50" not in md
    weights = {"vqgan": "a", "transformer": "b"}
    (tmp_path / "w").mkdir()
    md = render(tmp_path / "w", fid_results=report("mode", 43.5, checkpoints=weights),
                fid_results_draws=report(None, 44.5, checkpoints=dict(weights, vqgan="c")))
    assert "44.50 / 22.25" not in md
    assert "`vqgan.safetensors` a, `transformer.safetensors` b" in md  # the weights are named
    (tmp_path / "same").mkdir()
    md = render(tmp_path / "same", fid_results=report("mode", 43.5, checkpoints=weights),
                fid_results_draws=report(None, 44.5, checkpoints=weights))
    assert "| cosine | 43.50 | 21.75 | 32.93 | 44.50 / 22.25 |" in md


def test_a_report_that_drew_says_so_and_its_commands_reproduce_it(tmp_path):
    md = render(tmp_path, fid_results=report(None, 44.5))
    assert "`--final-step sample` (not the library's default, `mode`)" in md
    assert "--schedules cosine linear square cubic --final-step sample --out docs/bench" in md


def test_new_weights_show_the_previous_weights_beside_them(tmp_path):
    old, new = {"vqgan": "a", "transformer": "b"}, {"vqgan": "c", "transformer": "d"}
    current = report("mode", 33.5, checkpoints=new, curve=True)
    current["reference"]["vqgan_reconstruction"] = 25.9
    earlier = report("mode", 43.5, checkpoints=old, curve=True)
    earlier["reference"]["vqgan_reconstruction"] = 26.8
    md = render(tmp_path, fid_results=current, fid_results_previous=earlier)
    assert "| cosine | 33.50 | 16.75 | 32.93 | 43.50 / 21.75 |" in md
    assert "| (8,8) | 34.50 | 20.00 | 33.82 | 44.50 / 20.00 |" in md
    assert "`vqgan.safetensors` a, `transformer.safetensors` b; same faces" in md
    assert "| our tokenizer's reconstruction of the truth (floor of `fid`) | 25.90 | 26.80 |" in md
    assert "| cosine, previous weights | 80.00 | 60.00 |" in md
    # another decoding, or the same weights, is not a comparison of weights
    for other in (report("sample", 43.5, checkpoints=old), report("mode", 43.5, checkpoints=new)):
        (tmp_path / "x").mkdir()
        md = render(tmp_path / "x", fid_results=current, fid_results_previous=other)
        assert "43.50 / 21.75" not in md and "previous weights" not in md
        shutil.rmtree(tmp_path / "x")


def test_new_weights_without_curves_show_the_previous_weights_curves_labelled(tmp_path):
    current = report("mode", 33.5, checkpoints={"vqgan": "c", "transformer": "d"})
    earlier = report("mode", 43.5, checkpoints={"vqgan": "a", "transformer": "b"}, curve=True)
    md = render(tmp_path, fid_results=current, fid_results_previous=earlier)
    section = md[md.index("## FID vs total iterations"):]
    assert "| cosine | 80.00 | 60.00 |" in section
    assert "Not rerun for the shipped weights yet" in section and "fid_results_previous.json" in section
    (tmp_path / "own").mkdir()  # once the shipped weights have a curve, theirs is shown, unlabelled
    md = render(tmp_path / "own", fid_results=dict(current, curve={"cosine": {"1": 70.0, "4": 50.0}},
                                                   curve_images=256), fid_results_previous=earlier)
    assert "| cosine | 70.00 | 50.00 |" in md and "Not rerun for the shipped weights yet" not in md


def test_curve_notes_only_beside_the_curve_they_describe(tmp_path):
    first = {"vqgan": "0d72a50e59ea0192", "transformer": "10ebf7993ce2b536"}
    md = render(tmp_path, fid_results=report("mode", 43.5, checkpoints=first, curve=True))
    assert "already scores 58.9" in md
    (tmp_path / "new").mkdir()
    md = render(tmp_path / "new", fid_results=report("mode", 33.5, checkpoints={"vqgan": "c", "transformer": "d"},
                                                     curve=True))
    assert "| cosine | 80.00 | 60.00 |" in md and "58.9" not in md


def test_seed_noise_is_shown_only_beside_the_weights_it_measured(tmp_path):
    weights = {"vqgan": "a", "transformer": "b"}
    seeds = {"weights": weights, "cpu": "Test CPU, 2 cores", "settings": {"n_images": 747, "schedule": "cosine", "sweet_spot": 10,
                                              "total_iter": 10, "fid_precision": "fp32"},
             "rows": [{"seed": 0, "fid": 28.4, "fid_composited": 14.89},
                      {"seed": 1, "fid": 28.1, "fid_composited": 14.51}],
             "summary": {"fid": {"mean": 28.25, "sd": 0.212, "min": 28.1, "max": 28.4},
                         "fid_composited": {"mean": 14.7, "sd": 0.269, "min": 14.51, "max": 14.89}}}
    md = render(tmp_path, fid_results=report("mode", 43.5, checkpoints=weights), fid_seeds=seeds)
    assert "| 1 | 28.10 | 14.51 |" in md and "on Test CPU, 2 cores" in md
    assert "Over 2 seeds: `fid` 28.25 +- 0.21" in md and "`fid_composited` 14.70 +- 0.27" in md
    (tmp_path / "stale").mkdir()
    md = render(tmp_path / "stale", fid_results=report("mode", 43.5, checkpoints=dict(weights, vqgan="c")),
                fid_seeds=seeds)
    assert "| 1 | 28.10 |" not in md and "from other weights and is not shown" in md


def test_rows_decoded_before_the_floor_fix_say_so_and_later_ones_do_not(tmp_path):
    fix = {"before_fix": {"fid": 23.38, "fid_composited": 13.29}, "after_fix": {"fid": 23.34, "fid_composited": 13.26}}
    md = render(tmp_path, fid_results=report("mode", 43.5), schedule_floor_fix=fix)
    assert "were decoded before the 2026-11-29 fix" in md and "from 23.38 / 13.29 to 23.34 / 13.26" in md
    (tmp_path / "new").mkdir()
    md = render(tmp_path / "new", fid_results=report("mode", 43.5, schedule_floor_fixed=True), schedule_floor_fix=fix)
    assert "before the 2026-11-29 fix" not in md
