"""Send back only the tensors a run changed, and rebuild the full weights from them.

A decoder-only run (encoder frozen) changes about half of the tokenizer's tensors; where the
files that come back from a lent GPU machine are size-limited, the rest need not travel:
  (there) python scripts/changed_tensors.py extract BASE.safetensors TUNED.safetensors OUT.safetensors
  (here)  python scripts/changed_tensors.py apply BASE.safetensors OUT.safetensors FULL.safetensors
`apply` writes fp16, as checkpoints are stored; the JSON config travels as it is.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from maskgit.checkpoint import apply_changed_tensors, changed_tensors, read_tensors, save_tensors  # noqa: E402
from maskgit.errors import MaskGITError  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["extract", "apply"])
    p.add_argument("base")
    p.add_argument("other", help="extract: the tuned weights; apply: the changed tensors")
    p.add_argument("out")
    args = p.parse_args(argv)
    try:
        base, other = read_tensors(args.base), read_tensors(args.other)
        if args.action == "extract":
            out = changed_tensors(base, other)
            if not out:  # most likely the wrong file: a run that trained changes something
                raise MaskGITError(f"{args.other} has the same tensors as {args.base}")
            kept = f"{len(out)} of {len(base)} tensors changed"
        else:
            out = apply_changed_tensors(base, other)
            kept = f"{len(other)} tensors replaced"
        save_tensors(out, args.out, torch.float16 if args.action == "apply" else None)
    except MaskGITError as e:
        sys.exit(f"error: {e}")
    print(f"{args.out}: {kept}")


if __name__ == "__main__":
    main()
