"""What the command-line tools share: flag groups, where the checkpoints are, and the one
way a tool reports bad input (a one-line message on stderr, exit status 2)."""
import argparse
import functools
import os
import sys

from .decoding import FINAL_STEP, FINAL_STEP_HELP, ORDERS, SEED_RANGE
from .errors import MaskGITError
from .pipeline import DECODERS, FILLS
from .schedules import SCHEDULES

CHECKPOINTS_ENV = "MASKGIT_CHECKPOINTS"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the tools' one-line errors: "error: ... (see --help)", exit status 2."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def default_checkpoints():
    """$MASKGIT_CHECKPOINTS, else ./checkpoints, else the checkpoints/ folder beside the package
    (a clone or an editable install), so the tools work from any folder."""
    if os.environ.get(CHECKPOINTS_ENV):
        return os.environ[CHECKPOINTS_ENV]
    beside = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checkpoints")
    if not os.path.isdir("checkpoints") and os.path.isdir(beside):
        return beside
    return "checkpoints"


def add_model_flags(p):
    p.add_argument("--checkpoints", default=default_checkpoints(),
                   help=f"folder with the weights (default: ${CHECKPOINTS_ENV}, ./checkpoints or the shipped ones)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def add_decoding_flags(p, schedule=True):
    """The settings of one decoding run."""
    if schedule:
        p.add_argument("--schedule", default="cosine", help=f"mask schedule: {', '.join(SCHEDULES)}")
    p.add_argument("--sweet-spot", type=int, default=10, help="the step whose prediction is the output")
    p.add_argument("--total-iter", type=int, default=10, help="the schedule's length")
    p.add_argument("--choice-temperature", type=float, default=4.5,
                   help="Gumbel noise on the choice of tokens to keep, scaled by (1 - progress)")
    p.add_argument("--seed", type=int, default=0,
                   help=f"a whole number in {SEED_RANGE}; the same seed, settings and device give the same result")
    p.add_argument("--fill", default=FILLS[0], choices=FILLS,
                   help="what the encoder sees in the hole (gray = the course's behaviour)")
    p.add_argument("--final-step", default=FINAL_STEP[0], choices=FINAL_STEP, help=FINAL_STEP_HELP)
    p.add_argument("--grow-hole", type=int, default=0, metavar="TOKENS",
                   help="also redraw the known tokens within this many tokens of the hole")
    p.add_argument("--order", default=ORDERS[0], choices=ORDERS,
                   help="which masked tokens each step decides: by confidence, or in a Halton order")


def add_decoder_flag(p, both=False):
    p.add_argument("--decoder", choices=DECODERS + (("both",) if both else ()),
                   help="guided: the mask-aware decoder (reads the known pixels; the default when the "
                        "checkpoints have a guide); tokens: from the tokens alone (the course's)"
                        + ("; both: each, from the same tokens" if both else ""))


def reports_errors(main):
    """Wrap a command's main: bad input is one line on stderr and exit status 2, never a traceback."""
    @functools.wraps(main)
    def wrapped(argv=None):
        try:
            return main(argv) or 0
        except MaskGITError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return wrapped
