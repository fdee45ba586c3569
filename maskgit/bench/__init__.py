"""Benchmarks: FID tables on a test folder, speed, and the studio's responsiveness.

  python -m maskgit.bench fid --test-dir DIR --out docs/bench     # tables + plots
  python -m maskgit.bench speed --out docs/bench                  # speed table
  python -m maskgit.bench studio --out docs/bench                 # the studio in headless Chromium
  python -m maskgit.bench load --out docs/bench                   # many streaming users at once
"""
from .tables import (COURSE_SCHEDULES, COURSE_SWEET, FLOOR_FIXED, combine_reports, conv_flops, inpaint_at_steps,
                     main, plot_results, report_setting, telea)

__all__ = ["COURSE_SCHEDULES", "COURSE_SWEET", "FLOOR_FIXED", "combine_reports", "conv_flops", "inpaint_at_steps",
           "main", "plot_results", "report_setting", "telea"]
