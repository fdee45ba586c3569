"""Benchmark halves run side by side are combined into one report (maskgit.bench.combine_reports,
scripts/combine_fid_results.py); here on small hand-made reports."""
import json
import os
import subprocess
import sys

import pytest

from maskgit.bench import combine_reports
from maskgit.errors import MaskGITError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = {"vqgan": "aaaa", "transformer": "bbbb"}


def half(weights=WEIGHTS, **tables):
    return {"checkpoints": weights, "n_images": 747, "fid_precision": "fp32", "seed": 0,
            "choice_temperature": 4.5, "fill": "smooth", "final_step": "mode",
            "reference": {"gray_fill": 53.24}, "schedules": {}, "sweet_spot_table": {}, "curve": {},
            "seconds": 100.0, **tables}


def cell(fid):
    return {"fid": fid, "fid_composited": fid / 2}


def test_halves_combine_into_one_report_with_the_cosine_row_as_the_10_10_cell():
    a = half(schedules={"cosine": cell(29.0), "linear": cell(30.0)}, sweet_spot_table={"8,8": cell(31.0)})
    b = half(sweet_spot_table={"12,12": cell(32.0), "8,20": cell(33.0)},
             curve={"cosine": {"1": 45.0, "2": 44.0}}, curve_images=256)
    c = half(curve={"cosine": {"4": 43.0}, "linear": {"1": 45.0}}, curve_images=256)
    out = combine_reports([a, b, c])
    assert set(out["schedules"]) == {"cosine", "linear"}
    assert set(out["sweet_spot_table"]) == {"8,8", "12,12", "8,20", "10,10"}
    assert out["sweet_spot_table"]["10,10"] == {**cell(29.0), "course_fid": 32.93}
    assert out["curve"] == {"cosine": {"1": 45.0, "2": 44.0, "4": 43.0}, "linear": {"1": 45.0}}
    assert out["curve_images"] == 256
    assert out["checkpoints"] == WEIGHTS and "seconds" not in out  # the halves' times do not add up


@pytest.mark.parametrize("other", [half(weights={"vqgan": "aaaa", "transformer": "cccc"}),
                                   {**half(), "final_step": "sample"}, {**half(), "n_images": 256}])
def test_reports_made_differently_do_not_combine(other):
    with pytest.raises(MaskGITError, match="cannot combine"):
        combine_reports([half(), other])


def test_a_row_with_different_numbers_in_two_halves_is_an_error():
    with pytest.raises(MaskGITError, match="differs"):
        combine_reports([half(), half(reference={"gray_fill": 53.30})])
    with pytest.raises(MaskGITError, match="faces"):
        combine_reports([half(curve={"cosine": {"1": 45.0}}, curve_images=256),
                         half(curve={"linear": {"1": 45.0}}, curve_images=747)])


def test_the_script_keeps_the_previous_weights_report(tmp_path):
    for name, report in {"a": half(schedules={"cosine": cell(29.0)}),
                         "b": half(sweet_spot_table={"8,8": cell(31.0)})}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "fid_results.json").write_text(json.dumps(report))
    out = tmp_path / "bench"
    out.mkdir()
    released = half(weights={"vqgan": "old", "transformer": "old"}, schedules={"cosine": cell(40.0)})
    (out / "fid_results.json").write_text(json.dumps(released))
    script = os.path.join(ROOT, "scripts", "combine_fid_results.py")
    run = subprocess.run([sys.executable, script, str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads((out / "fid_results_previous.json").read_text()) == released
    combined = json.loads((out / "fid_results.json").read_text())
    assert combined["schedules"]["cosine"] == cell(29.0) and "8,8" in combined["sweet_spot_table"]
    assert (out / "schedules.png").exists()
    missing = subprocess.run([sys.executable, script, str(tmp_path / "a"), str(tmp_path / "nowhere"),
                              "--out", str(out)], capture_output=True, text=True)
    assert missing.returncode == 2 and "not found" in missing.stderr
    assert json.loads((out / "fid_results.json").read_text()) == combined  # unchanged on error


def test_a_rerun_on_the_same_weights_keeps_the_previous_weights_report(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "fid_results.json").write_text(json.dumps(half(schedules={"cosine": cell(28.0)})))
    out = tmp_path / "bench"
    out.mkdir()
    (out / "fid_results.json").write_text(json.dumps(half(schedules={"cosine": cell(29.0)})))
    before = half(weights={"vqgan": "old", "transformer": "old"}, schedules={"cosine": cell(40.0)})
    (out / "fid_results_previous.json").write_text(json.dumps(before))
    script = os.path.join(ROOT, "scripts", "combine_fid_results.py")
    subprocess.run([sys.executable, script, str(tmp_path / "a"), "--out", str(out)], check=True, capture_output=True)
    assert json.loads((out / "fid_results_previous.json").read_text()) == before
    assert json.loads((out / "fid_results.json").read_text())["schedules"]["cosine"] == cell(28.0)
