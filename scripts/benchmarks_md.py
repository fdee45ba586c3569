"""docs/benchmarks.md from the JSON the benchmark commands wrote (docs/bench/*.json).

  python scripts/benchmarks_md.py --bench docs/bench --out docs/benchmarks.md
"""
import argparse
import json
import os


def load(folder, name):
    for candidate in (name, name.replace(".json", ".partial.json")):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f), candidate
    return None, None


def fmt(v):
    return "–" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bench", default="docs/bench")
    p.add_argument("--out", default="docs/benchmarks.md")
    args = p.parse_args()
    fid, fid_file = load(args.bench, "fid_results.json")
    speed, _ = load(args.bench, "speed.json")
    studio, _ = load(args.bench, "studio.json")
    lines = ["# Benchmarks", "",
             "Every number below is printed by a command of this repository, run on the shipped",
             "checkpoints on this project's machine: 2 CPU cores (AMD EPYC with AVX-512 BF16), 24 GiB,",
             "no GPU. Reproduce with the commands under each table.", ""]
    if fid:
        n = fid["n_images"]
        lines += ["## FID per mask schedule (sweet spot 10, total iterations 10)", "",
                  f"{n} test faces of `cat_face_test`, seed {fid['seed']}, choice temperature "
                  f"{fid['choice_temperature']}, Inception in `{fid['fid_precision']}` precision "
                  "(see below). `fid`: decoded images vs truth (the course's protocol); "
                  "`fid_composited`: known pixels pasted back.", "",
                  "| schedule | fid (ours) | fid_composited (ours) | course fid |", "|---|---|---|---|"]
        for name, row in fid["schedules"].items():
            lines.append(f"| {name} | {fmt(row['fid'])} | {fmt(row['fid_composited'])} | {fmt(row.get('course_fid'))} |")
        lines += ["", "Reference rows, same FID code and images:", "", "| reference | fid |", "|---|---|"]
        names = {"gray_fill": "gray-filled input (`masked_image`)", "opencv_telea": "OpenCV Telea, radius 3",
                 "vqgan_reconstruction": "our tokenizer's reconstruction of the truth (floor of `fid`)"}
        for k, v in fid["reference"].items():
            lines.append(f"| {names.get(k, k)} | {fmt(v)} |")
        if fid.get("sweet_spot_table"):
            lines += ["", "## FID per (sweet spot, total iterations), cosine", "",
                      "| (sweet spot, total) | fid (ours) | fid_composited (ours) | course fid |", "|---|---|---|---|"]
            for key, row in sorted(fid["sweet_spot_table"].items(), key=lambda kv: (int(kv[0].split(',')[1]), int(kv[0].split(',')[0]))):
                lines.append(f"| ({key}) | {fmt(row['fid'])} | {fmt(row['fid_composited'])} | {fmt(row.get('course_fid'))} |")
        lines += ["", "```bash", "python -m maskgit.bench fid --test-dir ../shared/data/cat_face_test \\",
                  "    --schedules cosine linear square cubic --fid-precision mixed --out docs/bench", "```", ""]
        if fid_file.endswith("partial.json"):
            lines += ["*(This table is from a partial run: rows not shown were not finished.)*", ""]
        lines += ["![schedules](bench/schedules.png)", ""]
        if fid.get("curve"):
            lines += ["![FID vs iterations](bench/fid_vs_iterations.png)", ""]
    if speed:
        peak = speed["peak_gflops_bf16"]
        lines += ["## Speed", "", f"Machine: {speed['machine']}, {speed['threads']} threads. Measured matmul peak "
                  f"(2048x2048): fp32 {speed['peak_gflops_fp32']} GFLOP/s, bf16 {peak} GFLOP/s. FLOPs from the "
                  f"model (transformer forward {speed['gflop']['transformer_forward']} GFLOP, tokenizer decode "
                  f"{speed['gflop']['vqgan_decode']}, encode {speed['gflop']['vqgan_encode']}).", "",
                  "| what | time | fraction of bf16 peak |", "|---|---|---|"]
        for b in (1, 4):
            lines.append(f"| transformer forward, batch {b} | {speed[f'transformer_forward_b{b}_ms']} ms | {speed[f'transformer_forward_b{b}_frac_peak']:.0%} |")
            lines.append(f"| tokenizer decode, batch {b} | {speed[f'vqgan_decode_b{b}_ms']} ms | {speed[f'vqgan_decode_b{b}_frac_peak']:.0%} |")
        lines += [f"| first decoding step (encode + 1 forward + decode) | {speed['first_step_ms']} ms | |",
                  f"| 10-step inpainting, every step decoded | {speed['inpaint_10_steps_ms']} ms | |",
                  f"| 4-schedule comparison, 10 steps, one batch | {speed['compare_4_schedules_10_steps_ms']} ms | |",
                  f"| evaluation inpainting (batch 32, decode at the end) | {speed['eval_inpaint_img_per_s']} img/s | {speed['eval_inpaint_frac_peak']:.0%} |",
                  f"| training step, transformer (batch 32) | {speed['train_transformer_img_per_s']} img/s | {speed['train_transformer_frac_peak']:.0%} |",
                  f"| training step, tokenizer (batch 32, no GAN) | {speed['train_vqgan_img_per_s']} img/s | {speed['train_vqgan_frac_peak']:.0%} |",
                  "", "```bash", "python -m maskgit.bench speed --out docs/bench", "```", ""]
    if studio:
        lines += ["## Studio responsiveness (through the server, with gradio_client)", "",
                  "| what | seconds |", "|---|---|",
                  f"| first streamed step reaches the client (median of 5) | {studio['single_user_first_step_s']} |",
                  f"| whole 10-step run (median of 5) | {studio['single_user_10_steps_s']} |",
                  f"| 4 users at once: all done | {studio['four_users_all_done_s']} (each complete: {studio['four_users_each_complete']}) |",
                  "", "The client times include uploading the editor's two images with each request. Server-side, the",
                  "first step is ready after about 0.1 s; the rest is Gradio's queue, encoding and transport.", "",
                  "```bash", "python scripts/bench_studio.py --out docs/bench", "```", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
