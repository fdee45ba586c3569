"""Inpaint one image from the command line, writing every decoding step.

  python -m maskgit.inpaint --image IMG --mask MASK --schedule cosine --sweet-spot 10 \\
      --total-iter 10 --seed 0 --out DIR

MASK is black (0) where the hole is and white (255) where pixels are known, the same size
as IMG. Both files are turned upright by their EXIF orientation first, so a mask drawn on the
picture as a viewer shows it lines up. IMG may be any size (its center square is resized to
64x64) and any image mode (16-bit scaled to 8 bits, transparency put onto white).
DIR gets step_NN.png (latent mask | prediction), result.png (decoded, the course's
output), result_composited.png (known pixels pasted back), input_masked.png (what the
encoder saw: the hole filled as --fill says) and decoding.gif. Nothing is written unless
the whole run succeeds; step_NN.png files left in DIR by an earlier, longer run are
removed, so the folder shows this run alone.
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
import warnings

from .cli import ArgumentParser, add_decoder_flag, add_decoding_flags, add_model_flags, reports_errors
from .decoding import SEED_RANGE, check_seed
from .errors import MaskGITError
from .images import HOLE_MAX_GRAY, MAX_PIXELS, load_image, load_mask, save_rgb
from .pipeline import load
from .scoring import DecodeSettings
from .render import gif_bytes, step_frame, to_uint8_image


MAX_MEGAPIXELS = MAX_PIXELS // 1_000_000
LIMITS = f"""
Limits: IMG and MASK hold at most {MAX_MEGAPIXELS} megapixels each (refused from the file's header,
before decoding); mask gray levels 0..{HOLE_MAX_GRAY} are hole, {HOLE_MAX_GRAY + 1}..255 known; --seed is a
whole number in {SEED_RANGE}. Bad input is one line on stderr, exit status 2, nothing written.
"""


def parse(argv):
    p = ArgumentParser(prog="maskgit-inpaint", description=__doc__ + LIMITS,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", required=True, help=f"the face: up to {MAX_MEGAPIXELS} megapixels, any size and mode")
    p.add_argument("--mask", required=True,
                   help=f"0 = hole, 255 = known, same size as --image (as a viewer shows it); gray levels "
                        f"0..{HOLE_MAX_GRAY} count as hole, {HOLE_MAX_GRAY + 1}..255 as known")
    p.add_argument("--out", required=True, help="output folder (created)")
    add_model_flags(p)
    add_decoding_flags(p)
    add_decoder_flag(p)
    return p.parse_args(argv)


STEP_FILE = re.compile(r"step_\d+\.png")


def check_out_dir(out_dir):
    """Refuse an --out that cannot be written before any model work is done: the folder (or
    where it will be made) and its parent, where the results are staged."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise MaskGITError(f"--out {out_dir} exists and is not a folder")
    target = os.path.abspath(out_dir)
    for path in (target, os.path.dirname(target)):
        while not os.path.exists(path):
            path = os.path.dirname(path)
        if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
            raise MaskGITError(f"--out {out_dir}: cannot write into {path}")


def write_outputs(out_dir, frames, final, masked_input):
    """Write into a temporary sibling folder, then move the files in: all or nothing."""
    try:
        _write_outputs(out_dir, frames, final, masked_input)
    except OSError as e:
        raise MaskGITError(f"could not write the results to {out_dir}: {e.strerror or e}") from None


def _write_outputs(out_dir, frames, final, masked_input):
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".inpaint-")
    try:
        for i, frame in enumerate(frames, 1):
            save_rgb(frame, os.path.join(tmp, f"step_{i:02d}.png"))
        with open(os.path.join(tmp, "decoding.gif"), "wb") as f:  # warnings name where it ends up
            f.write(gif_bytes(frames, name=os.path.join(out_dir, "decoding.gif")))
        save_rgb(to_uint8_image(final.image[0]), os.path.join(tmp, "result.png"))
        save_rgb(to_uint8_image(final.composite[0]), os.path.join(tmp, "result_composited.png"))
        save_rgb(masked_input, os.path.join(tmp, "input_masked.png"))
        os.makedirs(out_dir, exist_ok=True)
        written = sorted(os.listdir(tmp))
        for name in written:
            os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
        for name in os.listdir(out_dir):  # steps of an earlier, longer run would read as this run's
            if STEP_FILE.fullmatch(name) and name not in written:
                os.remove(os.path.join(out_dir, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_warnings(caught):
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)


@reports_errors
def main(argv=None):
    args = parse(argv)
    check_seed(args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image, size = load_image(args.image)
        hole = load_mask(args.mask, size)
    print_warnings(caught)
    check_out_dir(args.out)  # load_mask has refused a mask without a hole
    model = load(args.checkpoints, device=args.device)
    settings = DecodeSettings.from_args(args).pipeline_kwargs()
    frames, final, masked_input = [], None, None
    for record in model.inpaint_steps(image, hole, decoder=args.decoder, **settings):
        frames.append(step_frame(record))
        final = record
        if record.encoder_input is not None:  # the first step's: the hole filled as --fill says
            masked_input = to_uint8_image(record.encoder_input[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_outputs(args.out, frames, final, masked_input)
    print_warnings(caught)
    print(f"wrote {len(frames)} steps and the result to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
