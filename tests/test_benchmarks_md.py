"""scripts/benchmarks_md.py fills the tables of docs/benchmarks.md from the reports and leaves
the prose alone; here on a small hand-made report."""
import json

from conftest import load_script

REPORT = {"settings": {"n_images": 747, "seed": 0, "choice_temperature": 4.5, "fill": "smooth", "final_step": "mode",
                       "batch_size": 64, "fid_precision": "fp32", "decoders": ["guided", "tokens"],
                       "weights": {"vqgan": "aaaa", "transformer": "bbbb", "guide": "cccc"}},
          "reference": {"gray_fill": 53.24},
          "schedules": {"cosine": {"guided": {"fid": 14.5, "fid_composited": 10.9, "psnr_known": 36.2},
                                   "tokens": {"fid": 23.09, "fid_composited": 13.06, "psnr_known": 26.1},
                                   "course_fid": 32.93}}}

PAGE = """# Benchmarks

Prose that stays.

<!-- table: schedules -->
old table
<!-- end -->

More prose. <!-- table: nothing_reported --> kept as it is <!-- end -->
"""


def test_tables_are_filled_from_the_report_and_the_prose_is_kept(tmp_path):
    script = load_script("benchmarks_md")
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "fid_results.json").write_text(json.dumps(REPORT))
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE)
    assert script.main(["--page", str(page), "--bench-dir", str(bench), "--check"]) == 1  # stale
    assert script.main(["--page", str(page), "--bench-dir", str(bench)]) == 0
    text = page.read_text()
    assert "old table" not in text and "Prose that stays." in text and "kept as it is" in text
    row = next(line for line in text.splitlines() if line.startswith("| cosine"))
    assert "**14.50** / 10.90" in row and "**23.09** / 13.06" in row and "36.2 / 26.1" in row and "32.93" in row
    assert script.main(["--page", str(page), "--bench-dir", str(bench), "--check"]) == 0  # up to date
