"""The course's FID tables on a test folder, for every decoder: FID per mask schedule at
(sweet spot 10, total 10), FID per (sweet spot, total) with cosine, reference rows, and
optionally FID against total iterations."""
import sys
import time

import numpy as np

from ..checkpoint import file_digest, weights_digests
from ..fid import fid
from ..pipeline import load
from ..scoring import DecodeSettings, decode_set, psnr_known, reconstruct_set, set_tokens
from ..testset import load_test_folder
from .report import Report

COURSE_SCHEDULES = {"cosine": 32.93, "linear": 34.01, "square": 34.00, "cubic": 34.52}
COURSE_SWEET = {(8, 8): 33.82, (10, 10): 32.93, (12, 12): 32.97, (8, 20): 34.23, (10, 20): 33.18, (12, 20): 34.62}


def telea(masked, holes):
    """OpenCV's Telea inpainting (radius 3), or None without OpenCV."""
    try:
        import cv2
    except ImportError:
        return None
    return np.stack([cv2.inpaint(np.ascontiguousarray(m), h.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
                     for m, h in zip(masked, holes)])


class FIDTables:
    def __init__(self, args):
        self.args = args
        self.masked, self.truth, self.holes, _ = load_test_folder(args.test_dir, args.limit)
        self.model = load(args.checkpoints, device=args.device)
        self.decoders = args.decoders or (["guided", "tokens"] if self.model.guide is not None else ["tokens"])
        self.weights = weights_digests(args.checkpoints)
        if self.model.guide is not None:
            self.weights["guide"] = file_digest(f"{args.checkpoints}/guide.safetensors")
        self.settings = DecodeSettings.from_args(args)
        report_settings = {**self.settings.__dict__, "weights": self.weights, "n_images": len(self.truth),
                           "fid_precision": args.fid_precision, "decoders": self.decoders}
        for key in ("schedule", "sweet_spot", "total_iter"):  # these vary by row
            report_settings.pop(key)
        self.report = Report(args.out and f"{args.out}/fid_results.json", report_settings, fresh=args.fresh)

    def score(self, images, truth=None):
        return round(fid(images, self.truth if truth is None else truth, precision=self.args.fid_precision), 2)

    def log(self, *parts):
        print(*parts, file=sys.stderr, flush=True)

    def cells(self, schedule, total, sweet_spots, n=None):
        """{sweet spot: {decoder: scores}} of one decoding run per batch (earlier sweet spots of
        the same run are shared)."""
        n = n or len(self.truth)
        masked, holes, truth = self.masked[:n], self.holes[:n], self.truth[:n]
        settings = DecodeSettings(**{**self.settings.__dict__, "schedule": schedule, "total_iter": total,
                                     "sweet_spot": max(sweet_spots)})
        cache = self.args.tokens_dir and f"{self.args.tokens_dir}/{schedule}-{'-'.join(map(str, sweet_spots))}-of-{total}-n{n}.safetensors"
        tokens = set_tokens(self.model, masked, holes, settings, self.weights, cache=cache, steps=sweet_spots)
        out = {}
        for s in sweet_spots:
            out[s] = {}
            for decoder in self.decoders:
                decoded, composited = decode_set(self.model, tokens[s], masked, holes, decoder, self.settings.batch_size)
                out[s][decoder] = {"fid": self.score(decoded, truth), "fid_composited": self.score(composited, truth),
                                   "psnr_known": round(psnr_known(decoded, truth, holes), 2)}
        return out

    def reference_rows(self):
        rows = {"gray_fill": lambda: self.masked, "opencv_telea": lambda: telea(self.masked, self.holes),
                "tokenizer_reconstruction": lambda: reconstruct_set(self.model.vqgan, self.truth, self.settings.batch_size)}
        for name, make in rows.items():
            if not self.report.has("reference", name):
                images = make()
                if images is not None:
                    self.report.add("reference", name, self.score(images))
        self.log("reference rows", self.report.data.get("reference"))

    def schedule_rows(self):
        for name in self.args.schedules:
            if self.report.has("schedules", name):
                continue
            t = time.time()
            row = {**self.cells(name, 10, [10])[10], "course_fid": COURSE_SCHEDULES.get(name)}
            self.report.add("schedules", name, row)
            self.log(name, row, f"{time.time() - t:.0f}s")

    def sweet_spot_rows(self):
        if self.report.has("schedules", "cosine") and not self.report.has("sweet_spot_table", "10,10"):
            row = {k: v for k, v in self.report.data["schedules"]["cosine"].items() if k != "course_fid"}
            self.report.add("sweet_spot_table", "10,10", {**row, "course_fid": COURSE_SWEET[(10, 10)]})
        for total in self.args.sweet_totals:
            sweets = [s for s, tot in COURSE_SWEET if tot == total and (s, tot) != (10, 10)
                      and not self.report.has("sweet_spot_table", f"{s},{tot}")]
            if not sweets:
                continue
            t = time.time()
            for s, row in self.cells("cosine", total, sweets).items():
                self.report.add("sweet_spot_table", f"{s},{total}", {**row, "course_fid": COURSE_SWEET[(s, total)]})
                self.log(f"cosine ({s},{total})", row, f"{time.time() - t:.0f}s")

    def curve_rows(self):
        """FID against total iterations (sweet spot = total), like the MaskGIT paper's ablation."""
        n = min(self.args.curve_limit, len(self.truth))
        for name in self.args.curve_schedules:
            for total in self.args.curve_totals:
                key = f"{name},{total},n{n}"
                if not self.report.has("curve", key):
                    self.report.add("curve", key, self.cells(name, total, [total], n=n)[total])
                    self.log("curve", key, self.report.data["curve"][key])

    def run(self):
        self.reference_rows()
        self.schedule_rows()
        if not self.args.skip_sweet:
            self.sweet_spot_rows()
        if self.args.curve_totals:
            self.curve_rows()
        return self.report.data
