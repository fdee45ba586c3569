"""The command line's bad-input catalogue: each case runs a console command in a fresh
process on files made here, and passes when the outcome is the promised one: bad input is
one line on stderr starting "error:", exit status 2, no traceback and nothing written;
odd but valid input (16-bit, rotated, transparent pictures) succeeds."""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


@dataclass
class Case:
    name: str
    argv: list
    expect: int = 2                   # exit status
    writes: str = None                # a path that must not exist afterwards (bad input) / must (good)
    says: str = None                  # what the error line must name (bad input)
    outcome: dict = field(default_factory=dict)


def big_png(path, side):
    """A valid PNG header claiming side x side pixels, a few hundred bytes on disk."""
    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    body = zlib.compress(row * 64)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", side.to_bytes(4, "big") * 2 + b"\x01\x00\x00\x00\x00")
                + chunk(b"IDAT", body) + chunk(b"IEND", b""))


class Fixtures:
    """Pictures, masks and checkpoint folders for the cases, in a temporary folder."""

    def __init__(self, root, checkpoints):
        self.root, self.checkpoints = root, checkpoints
        rng = np.random.default_rng(0)
        face = rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)
        mask = np.full((64, 64), 255, np.uint8)
        mask[16:48, 16:48] = 0
        self.face, self.mask = self.save("face.png", face), self.save("mask.png", mask)
        self.white = self.save("white.png", np.full((64, 64), 255, np.uint8))
        self.mask128 = self.save("mask128.png", np.full((128, 128), 0, np.uint8))
        self.face16 = self.path("face16.png")
        Image.fromarray((face[..., 0].astype(np.uint16) * 257)).save(self.face16)
        self.text = self.path("notes.png")
        open(self.text, "w").write("not an image")
        self.truncated = self.path("truncated.png")
        open(self.truncated, "wb").write(open(self.face, "rb").read()[:100])
        self.bomb = self.path("bomb.png")
        big_png(self.bomb, 20000)
        self.rotated = self.path("rotated.jpg")
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(face).save(self.rotated, exif=exif)
        self.empty = self.path("empty.png")
        open(self.empty, "wb").close()
        self.val_dir = self.path("val")  # three readable faces: the cases below fail on their flag alone
        os.makedirs(self.val_dir)
        for i in range(3):
            Image.fromarray(np.roll(face, 7 * i, 0)).save(os.path.join(self.val_dir, f"face{i}.png"))
        self.no_mask64 = self.path("nomask64")
        for sub in ("masked_image", "gt"):
            os.makedirs(os.path.join(self.no_mask64, sub))
            Image.fromarray(face).save(os.path.join(self.no_mask64, sub, "image_000.png"))
        self.a_file = self.path("a_file")
        open(self.a_file, "w").write("x")
        self.broken_ckpt = self.checkpoint_copy("broken", lambda d: open(f"{d}/transformer.safetensors", "r+b").truncate(1000))
        self.huge_ckpt = self.checkpoint_copy("huge", lambda d: self.edit_config(d, "transformer", dim=65536, n_heads=8))
        self.bad_heads = self.checkpoint_copy("heads", lambda d: self.edit_config(d, "transformer", n_heads=7))
        self.bad_json = self.checkpoint_copy("badjson", lambda d: open(f"{d}/vqgan.json", "w").write("{"))
        self.no_guide = self.checkpoint_copy("noguide", lambda d: None, with_guide=False)

    def path(self, name):
        return os.path.join(self.root, name)

    def save(self, name, array):
        Image.fromarray(array).save(self.path(name))
        return self.path(name)

    def checkpoint_copy(self, name, spoil, with_guide=True):
        folder = self.path(name)
        os.makedirs(folder)
        for model in ("vqgan", "transformer") + (("guide",) if with_guide else ()):
            for ext in ("json", "safetensors"):
                src = os.path.join(self.checkpoints, f"{model}.{ext}")
                if os.path.exists(src):
                    shutil.copy(src, folder)
        spoil(folder)
        return folder

    @staticmethod
    def edit_config(folder, name, **changes):
        path = f"{folder}/{name}.json"
        meta = json.load(open(path))
        meta["config"].update(changes)
        json.dump(meta, open(path, "w"))


def inpaint_cases(f, out):
    base = ["maskgit-inpaint", "--checkpoints", f.checkpoints, "--total-iter", "2", "--sweet-spot", "2"]

    def run(name, *args, expect=2, image=None, mask=None, dest=None, says=None):
        argv = base + ["--image", image or f.face, "--mask", mask or f.mask, "--out", dest or out(name), *args]
        return Case(f"inpaint: {name}", argv, expect, writes=dest or out(name), says=says)
    return [
        run("missing image", image=f.path("nope.png")), run("image is a folder", image=f.root),
        run("text file as image", image=f.text), run("truncated PNG", image=f.truncated),
        run("decompression bomb", image=f.bomb), run("missing mask", mask=f.path("nope.png")),
        run("mask of another size", mask=f.mask128), run("mask without a hole", mask=f.white),
        run("sweet spot 0", "--sweet-spot", "0"), run("sweet spot above total", "--sweet-spot", "5"),
        run("total 0", "--total-iter", "0", "--sweet-spot", "1"), run("unknown schedule", "--schedule", "zigzag"),
        run("negative temperature", "--choice-temperature", "-1"), run("NaN temperature", "--choice-temperature", "nan"),
        run("seed beyond 64 bits", "--seed", str(2 ** 64)), run("negative seed", "--seed", "-9223372036854775809"),
        run("--out is a file", dest=f.a_file), run("--out cannot be written", dest="/proc/maskgit-out"),
        run("missing checkpoints", "--checkpoints", f.path("none")),
        run("truncated weights", "--checkpoints", f.broken_ckpt), run("config of a huge model", "--checkpoints", f.huge_ckpt),
        run("config not JSON", "--checkpoints", f.bad_json), run("negative hole growth", "--grow-hole", "-1"),
        run("guided decoder without a guide", "--checkpoints", f.no_guide, "--decoder", "guided"),
        run("empty file as image", image=f.empty, says="image"), run("text file as mask", mask=f.text, says="mask"),
        run("total iterations not a number", "--total-iter", "ten", says="total"),
        run("fractional sweet spot", "--sweet-spot", "1.5", says="sweet"),
        run("config with heads that do not divide dim", "--checkpoints", f.bad_heads, says="n_heads"),
        run("16-bit picture (valid)", image=f.face16, expect=0), run("EXIF-rotated JPEG (valid)", image=f.rotated, expect=0),
    ]


def other_cases(f, out):
    ev = ["maskgit-evaluate", "--checkpoints", f.checkpoints, "--total-iter", "2", "--sweet-spot", "2", "--json"]
    tr = ["maskgit-train", "vqgan", "--data-root", f.root, "--steps", "1"]
    gd = ["maskgit-train", "guide", "--data-root", f.root, "--steps", "1", "--tokenizer", f.checkpoints]
    return [
        Case("evaluate: missing test folder", ev + ["--test-dir", f.path("none")]),
        Case("evaluate: folder without mask64/", ev + ["--test-dir", f.no_mask64], says="mask64"),
        Case("evaluate: --limit 1", ev + ["--val-dir", f.val_dir, "--limit", "1"]),
        Case("evaluate: --batch-size 0", ev + ["--val-dir", f.val_dir, "--batch-size", "0"]),
        Case("evaluate: seed out of range", ev + ["--val-dir", f.val_dir, "--seeds", "0", str(2 ** 63)]),
        Case("evaluate: missing guide", ev + ["--val-dir", f.val_dir, "--guide", f.path("none/guide")], says="guide"),
        Case("evaluate: unknown val holes", ev + ["--val-dir", f.val_dir, "--val-holes", "zigzag"], says="val-holes"),
        Case("evaluate: val folder without images", ev + ["--val-dir", f.checkpoints + "/../docs"]),
        Case("train: missing data", tr + ["--out", out("t1")], writes=out("t1")),
        Case("train: no budget", ["maskgit-train", "vqgan", "--data-root", f.root, "--out", out("t2")], writes=out("t2")),
        Case("train: negative disc weight", tr + ["--out", out("t3"), "--disc-weight", "-1"], writes=out("t3")),
        Case("train: EMA decay 1", tr + ["--out", out("t4"), "--ema", "1"], writes=out("t4")),
        Case("train: GAN start 2", tr + ["--out", out("t5"), "--gan-start", "2"], writes=out("t5")),
        Case("train: guide batch 0", gd + ["--batch-size", "0", "--out", out("t6")], writes=out("t6")),
        Case("train: guide ragged share 2", gd + ["--ragged", "2", "--out", out("t7")], writes=out("t7"), says="ragged"),
        Case("train: guide from a folder without one", gd + ["--init-from", f.path("none"), "--out", out("t8")],
             writes=out("t8"), says="holds no guide"),
    ]


def judge(case, proc):
    """Whether a case's run kept the promise, and why not."""
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    problems = []
    if proc.returncode != case.expect:
        problems.append(f"exit {proc.returncode}, not {case.expect}")
    if "Traceback" in proc.stderr:
        problems.append("traceback")
    if case.expect == 2:
        if len(lines) != 1:
            problems.append(f"{len(lines)} error lines")
        elif case.says and case.says.lower() not in lines[0].lower():
            problems.append(f"the error does not name {case.says!r}")
        if case.writes and case.writes.startswith(tempfile.gettempdir()) and os.path.exists(case.writes) \
                and not os.path.isfile(case.writes):
            problems.append("wrote output")
    return {"case": case.name, "passed": not problems, "problems": problems,
            "message": lines[0][:160] if lines else ""}


def run_case(case, timeout=120):
    try:
        proc = subprocess.run(case.argv, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        return judge(case, proc)
    except subprocess.TimeoutExpired:
        return {"case": case.name, "passed": False, "problems": [f"no answer in {timeout} s"]}


def run_cli_catalogue(checkpoints, timeout=120, names=None):
    """[(case result)] for every command-line case (or those named in `names`)."""
    with tempfile.TemporaryDirectory(prefix="maskgit-reliability-") as root:
        fixtures = Fixtures(root, checkpoints)
        out = lambda name: os.path.join(root, "out", name.replace(" ", "-"))  # noqa: E731
        results = []
        for case in inpaint_cases(fixtures, out) + other_cases(fixtures, out):
            if names is None or case.name in names:
                results.append(run_case(case, timeout))
                print(("pass " if results[-1]["passed"] else "FAIL ") + case.name, file=sys.stderr, flush=True)
        return results


def summary(results):
    passed = sum(r["passed"] for r in results)
    return {"cases": len(results), "passed": passed, "failed": [r["case"] for r in results if not r["passed"]],
            "pass_rate": round(passed / max(1, len(results)), 3) if not math.isnan(passed) else 0}
