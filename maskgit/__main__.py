"""`python -m maskgit COMMAND ...` (or `maskgit COMMAND ...`): every tool of the project.

  inpaint    inpaint one image, writing every step        (maskgit-inpaint)
  evaluate   score inpainting with FID on a folder         (maskgit-evaluate)
  bench      benchmark tables, speed, the studio, load     (maskgit-bench)
  train      train the tokenizer, transformer or guide     (maskgit-train)
  studio     start the Gradio studio                       (maskgit-studio)
"""
import importlib
import sys

COMMANDS = {"inpaint": "maskgit.inpaint", "evaluate": "maskgit.evaluate", "bench": "maskgit.bench",
            "train": "maskgit.training.cli", "studio": "maskgit_studio.app"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip())
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nerror: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0 if argv else 2
    module = importlib.import_module(COMMANDS[argv[0]])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
