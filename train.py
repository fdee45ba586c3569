"""Train MaskGIT from a folder of images: `python train.py --help` (maskgit/training/cli.py)."""
import sys

from maskgit.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
