"""Train MaskGIT from a folder of images (course layout: DATA_ROOT/train, DATA_ROOT/val).

  maskgit-train vqgan       --data-root DATA --out runs/vqgan --minutes 60
  maskgit-train transformer --data-root DATA --vqgan runs/vqgan --out runs/transformer --minutes 120
  maskgit-train guide       --data-root DATA --tokenizer checkpoints --out runs/guide --minutes 150
  torchrun --nproc_per_node=2 train.py transformer ...   # data parallel (gloo on CPU, nccl on GPU)

(`python train.py ...` in a clone is the same command.)

Each run resumes from OUT/state.json when it exists (use --fresh to start over); budgets
(--steps / --minutes) count the whole run across resumes. --export-to DIR also writes the
final weights there (e.g. checkpoints/).
"""
import argparse
import sys

from ..cli import ArgumentParser, reports_errors


def common_flags(p):
    p.add_argument("--data-root", required=True, help="folder with train/ and val/ image folders")
    p.add_argument("--out", required=True, help="run folder: state, logs and exported weights")
    p.add_argument("--steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--minutes", type=float, help="stop after this much training time")
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="ignore an existing state in --out")
    p.add_argument("--limit", type=int, help="use only the first N training files (smoke tests)")
    p.add_argument("--distinct", action="store_true",
                   help="train on distinct faces only: of training images identical after loading "
                   "(64x64 RGB), keep the first by file name (cat_face/train holds 11,970 files, 7,062 "
                   "distinct); counted after --limit")
    p.add_argument("--val-limit", type=int, help="use only the first N validation images")
    p.add_argument("--val-every", type=int, default=500, help="validate every N steps")
    p.add_argument("--save-seconds", type=float, default=300, help="also save state this often")
    p.add_argument("--log-seconds", type=float, default=2.0, help="progress bar refresh interval")
    p.add_argument("--export-to", help="also write the final weights into this folder")


def tokenizer_flags(vq):
    common_flags(vq)
    vq.add_argument("--lr", type=float, default=2e-4)
    vq.add_argument("--channels", type=int, nargs="+", default=[64, 128, 192])
    vq.add_argument("--res-blocks", type=int, default=2)
    vq.add_argument("--fsq-levels", type=int, nargs="+", default=[8, 5, 5, 5])
    vq.add_argument("--gan-start", type=float, default=0.6,
                    help="fraction of the budget (0 to 1) after which the encoder freezes (from the start "
                    "with --decoder-only) and the GAN starts (if --disc-weight > 0; then below 1)")
    vq.add_argument("--disc-weight", type=float, default=0.5, help="0: no adversarial term at all")
    vq.add_argument("--disc-lr", type=float, default=2e-4)
    vq.add_argument("--disc-channels", type=int, default=64)
    vq.add_argument("--disc-augment", nargs="?", const="colour,translation,cutout", default="",
                    metavar="POLICY",
                    help="show the discriminator real and decoded faces through the same kinds of random "
                    "transforms, drawn independently (DiffAugment), so it cannot memorise a small training set: "
                    "a comma list of colour, "
                    "translation, cutout (the flag alone: all three)")
    vq.add_argument("--lecam-weight", type=float, default=0.0,
                    help="LeCam regularisation of the discriminator (0: off; the paper uses 0.01-0.3)")
    vq.add_argument("--feature-matching", type=float, default=0.0, metavar="SHARE",
                    help="feature matching (pix2pixHD): also pull the decoding's discriminator activations "
                    "toward the true face's, balanced to this share of the reconstruction gradient at the "
                    "decoder's last layer, as the adversarial term is (0: off)")
    vq.add_argument("--disc-warmup", type=int, default=0, metavar="STEPS",
                    help="when the adversarial term starts, first train the discriminator alone this many "
                    "steps against the decoder as it stands (counts toward --minutes, not --steps; fixed "
                    "when the run starts: a resume runs what is left)")
    vq.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                    help="also keep an exponential moving average of the decoder's weights (e.g. 0.998) while the "
                    "encoder is frozen, exported as vqgan (and to --export-to; the last step's weights as "
                    "vqgan_raw in --out; the encoder is never averaged); 0: off")
    vq.add_argument("--init-from", help="start from the tokenizer in this folder (e.g. checkpoints); "
                    "its size wins over --channels/--res-blocks/--fsq-levels; its discriminator "
                    "(vqgan_disc.*), if trained against that decoder, is the adversarial term's starting point")
    vq.add_argument("--decoder-only", action="store_true",
                    help="with --init-from: freeze the encoder from the first step, so the tokens (and a "
                    "transformer trained on them) stay valid, and tune only the decoder")


def transformer_flags(tr):
    common_flags(tr)
    tr.add_argument("--vqgan", required=True, help="folder holding the stage-1 weights")
    tr.add_argument("--vqgan-name", default="vqgan", help="checkpoint name inside --vqgan")
    tr.add_argument("--lr", type=float, default=5e-4)
    tr.add_argument("--warmup", type=float, default=0.03, help="warm-up, as a fraction of the budget")
    tr.add_argument("--weight-decay", type=float, default=0.05)
    tr.add_argument("--label-smoothing", type=float, default=0.1)
    tr.add_argument("--ema", type=float, default=0.999)
    tr.add_argument("--init-from", help="continue from the transformer in this folder (e.g. checkpoints): "
                    "fresh optimizer and learning-rate schedule, its size (--dim/--layers/--heads ignored); "
                    "it must have been trained on the same tokenizer")
    tr.add_argument("--tokenize-only", action="store_true",
                    help="write the tokens of train and val into --out and stop (no budget needed): a run "
                    "given that folder trains without the images, with the same --vqgan, --limit, "
                    "--distinct and --val-limit (an existing cache is reused)")
    tr.add_argument("--dim", type=int, default=384)
    tr.add_argument("--layers", type=int, default=12)
    tr.add_argument("--heads", type=int, default=6)
    tr.add_argument("--dropout", type=float, default=0.1)


def guide_flags(gd):
    common_flags(gd)
    gd.set_defaults(batch_size=32, val_every=250, val_limit=256)
    gd.add_argument("--tokenizer", default="checkpoints",
                    help="folder with the frozen tokenizer (vqgan.*) and its discriminator (vqgan_disc.*)")
    gd.add_argument("--lr", type=float, default=2e-4)
    gd.add_argument("--known-weight", type=float, default=4.0,
                    help="weight of the known region's L1 + L2 against the hole's")
    gd.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128], help="guide width per level")
    gd.add_argument("--disc-weight", type=float, default=0.1, help="adversarial share (0: none)")
    gd.add_argument("--feature-matching", type=float, default=0.5, metavar="SHARE")
    gd.add_argument("--disc-augment", default="translation,cutout", metavar="POLICY")
    gd.add_argument("--holes", type=int, default=8192, help="random holes drawn once for the run (each seen in 8 orientations)")
    gd.add_argument("--ragged", type=float, default=0.0, metavar="SHARE",
                    help="share of the training holes given a ragged border, like masks reduced from a higher resolution")
    gd.add_argument("--init-from", help="start from the guide in this folder (e.g. checkpoints) instead of zero")
    gd.add_argument("--sampled", type=float, default=0.0, metavar="SHARE",
                    help="share of each batch decoded from the transformer's own inpainting of a training face "
                    "(what the guide reads at inference) instead of the truth's reconstruction")
    gd.add_argument("--sampled-faces", type=int, default=2048, metavar="N",
                    help="training faces the transformer inpaints once for --sampled, cached in --out "
                    "(about 1.4 s a face on two CPU cores)")
    gd.add_argument("--transformer", help="folder with the transformer for --sampled (default: --tokenizer)")
    gd.add_argument("--sampled-target", choices=["sample", "teacher", "composite"], default="sample",
                    help="the sampled rows' target: the truth with the sample in the hole; teacher: with "
                    "what the --init-from guide (frozen) makes of it in the hole; composite: the sample "
                    "pasted into the truth with a 1-pixel feather")
    gd.add_argument("--snapshot-every", type=int, default=0, metavar="STEPS",
                    help="also keep guide_stepN.* in --out every N steps, to choose from afterwards")


def parse(argv):
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)
    tokenizer_flags(sub.add_parser("vqgan", help="stage 1: the image tokenizer"))
    transformer_flags(sub.add_parser("transformer", help="stage 2: masked visual token modelling"))
    guide_flags(sub.add_parser("guide", help="the mask-aware decoder's guide, on a frozen tokenizer"))
    args = parser.parse_args(argv)
    if not args.steps and not args.minutes and not getattr(args, "tokenize_only", False):
        parser.error("give a budget: --steps N and/or --minutes M")
    return args


def trainer(stage):
    """(config class, training function) of a stage; imported only when it runs."""
    if stage == "guide":
        from maskgit.training.guide import GuideTrainConfig, train_guide
        return GuideTrainConfig, train_guide
    if stage == "vqgan":
        from maskgit.training.tokenizer import TokenizerTrainConfig, train_tokenizer
        return TokenizerTrainConfig, train_tokenizer
    from maskgit.training.transformer import TransformerTrainConfig, train_transformer
    return TransformerTrainConfig, train_transformer


@reports_errors
def main(argv=None):
    args = parse(argv)
    config_cls, train_fn = trainer(args.stage)
    fields = config_cls.__dataclass_fields__
    train_fn(config_cls(**{k: v for k, v in vars(args).items() if k in fields}))


if __name__ == "__main__":
    sys.exit(main())
