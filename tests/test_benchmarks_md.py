"""scripts/benchmarks_md.py writes docs/benchmarks.md from the benchmark reports; here on
small hand-made reports, to check that the decoding each report used is stated."""
import json
import os
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
