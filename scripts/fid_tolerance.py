"""Is a faster FID precision within 0.1 of fp32? The same image sets scored both ways.

  python scripts/fid_tolerance.py --test-dir ../shared/data/cat_face_test \
      --outputs /tmp/eval_out --out docs/bench

  python scripts/fid_tolerance.py --val-dir ../shared/data/cat_face/val --merge --out docs/bench

Sets: the gray-filled test inputs, OpenCV Telea inpainting, the VQGAN reconstruction of the
truth, and (with --outputs, a folder written by `maskgit.evaluate --save-dir`) the decoded
and composited inpaintings. Each against the truth, in fp32 and in each other precision,
with the seconds each pass took. --val-dir adds two sets made from other faces (brush holes
filled gray; a blur), each against those faces. Writes fid_tolerance.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from maskgit.bench import telea  # noqa: E402
from maskgit.data import load_image_folder  # noqa: E402
from maskgit.evaluate import run_reconstruction  # noqa: E402
from maskgit.fid import FID_PRECISIONS, fid, reference_stats  # noqa: E402
from maskgit.masks import validation_holes  # noqa: E402
from maskgit.pipeline import load  # noqa: E402
from maskgit.runtime import reuse_freed_memory  # noqa: E402
from maskgit.testset import load_test_folder  # noqa: E402


def saved_outputs(folder, key, names):
    paths = [os.path.join(folder, f"{key}-{name}") for name in names]
    if not all(os.path.exists(p) for p in paths):
        return None
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def outputs_settings(folder):
    """How `maskgit.evaluate --save-dir` made the images in `folder` (its evaluate.json; {} if
    the folder predates it, when the command's defaults were cosine (10,10) with draws)."""
    path = os.path.join(folder, "evaluate.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def val_sets(folder):
    """Two degraded versions of a folder of faces (not the test folder): brush holes filled
    gray, and a blur (area-downsampled to 32x32, bilinear back up). Returns (sets, truth)."""
    faces = load_image_folder(folder)
    truth = faces.permute(0, 2, 3, 1).contiguous().numpy()
    holes = validation_holes(len(faces))
    small = F.interpolate(faces.float(), size=(32, 32), mode="area")
    blurred = F.interpolate(small, size=(64, 64), mode="bilinear", align_corners=False)
    return {"val, brush holes filled gray": np.where(holes[..., None], np.uint8(128), truth),
            "val, blurred": blurred.round().clamp(0, 255).byte().permute(0, 2, 3, 1).contiguous().numpy()}, truth


def score(sets, truth, result):
    for precision in FID_PRECISIONS:
        reference_stats(truth, precision=precision)  # truth statistics cached, as in an evaluation
    for name, images in sets.items():
        row = result["sets"][name] = {}
        for precision in FID_PRECISIONS:
            start = time.perf_counter()
            row[precision] = round(fid(images, truth, precision=precision), 3)
            row[f"{precision}_seconds"] = round(time.perf_counter() - start, 1)
        print(name, row, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--test-dir", help="the test folder's sets (gray fill, Telea, reconstruction, outputs)")
    p.add_argument("--outputs", help="folder of `maskgit.evaluate --save-dir` images")
    p.add_argument("--val-dir", help="also two degraded sets of this folder of faces, against its own images")
    p.add_argument("--checkpoints", default="checkpoints")
    p.add_argument("--merge", action="store_true", help="add to the sets already in OUT/fid_tolerance.json")
    p.add_argument("--out")
    args = p.parse_args()
    if not (args.test_dir or args.val_dir):
        p.error("give --test-dir and/or --val-dir")
    path = os.path.join(args.out, "fid_tolerance.json") if args.out else None
    result = {"n_images": None, "sets": {}}
    if args.merge and path and os.path.exists(path):
        with open(path) as f:
            result = json.load(f)
    if args.test_dir:
        masked, truth, holes, names = load_test_folder(args.test_dir)
        sets = {"gray fill": masked, "OpenCV Telea": telea(masked, holes),
                "VQGAN reconstruction": run_reconstruction(load(args.checkpoints, device="cpu"), truth, 64)}
        if args.outputs:
            made = outputs_settings(args.outputs)
            if made.get("mode", "inpaint") != "inpaint":
                p.error(f"--outputs: {args.outputs} holds {made['mode']} images, not inpainting outputs")
            result["outputs_final_step"] = made.get("final_step", "sample")  # folders before session 11 drew
            label = f"{made.get('schedule', 'cosine')} ({made.get('sweet_spot', 10)},{made.get('total_iter', 10)})"
            for key in ("fid", "fid_composited"):
                images = saved_outputs(args.outputs, key, names)
                if images is not None:
                    sets[f"{label} {'decoded' if key == 'fid' else 'composited'}"] = images
        result["n_images"] = len(truth)
        score(sets, truth, result)
    if args.val_dir:
        sets, truth = val_sets(args.val_dir)
        result["n_images"] = result["n_images"] or len(truth)
        score(sets, truth, result)
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    reuse_freed_memory()
    main()
