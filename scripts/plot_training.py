"""Training curves from run logs (log.jsonl) -> one PNG.

  python scripts/plot_training.py --vqgan docs/runs/gpu-h200-vqgan.jsonl \
      --transformer docs/runs/gpu-h200-transformer.jsonl --out docs/figures/training_curves.png
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vqgan", required=True)
    p.add_argument("--transformer", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    vq, tr = read(args.vqgan), read(args.transformer)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
    a.plot([r["step"] for r in vq], [r["val_psnr"] for r in vq], "o-")
    a.set_title("tokenizer: val PSNR (dB)"); a.set_xlabel("step"); a.grid(alpha=0.3)
    pts = [r for r in tr if "val_loss" in r and not r.get("final")]
    b.plot([r["step"] for r in pts], [r["val_loss"] for r in pts], "o-", label="val masked-token loss")
    b.set_title("transformer: val loss (nats)"); b.set_xlabel("step"); b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
