"""scripts/plot_training.py: the training figure's reading of the run logs."""
import json

from conftest import load_script


def test_training_plot_reads_decoder_runs_from_compare_tokenizers_rows(tmp_path):
    plot = load_script("plot_training")
    rows = [{"tokenizer": "checkpoints (shipped)", "fid": 20.0},
            {"tokenizer": "runs/a at step 200 (note)", "fid": 23.0},
            {"tokenizer": "runs/a at step 100", "fid": 24.0},
            {"tokenizer": "runs/a@model", "step": 300, "fid": 22.0},
            {"tokenizer": "runs/a@ema", "step": 300, "fid": 21.5},
            {"tokenizer": "H200 decoder from step 5 (no step of its own)", "fid": 30.0},
            {"checkpoints": "an inpainting row", "fid": 26.0}]
    path = tmp_path / "val.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    series, shipped = plot.recon_series([str(path)])
    assert shipped == 20.0
    assert series == {"a": [(100, 24.0), (200, 23.0), (300, 22.0)], "a (EMA)": [(300, 21.5)]}
