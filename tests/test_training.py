import json
import os
import shutil

import numpy as np
import pytest
import torch

from maskgit.training import cli as train
from maskgit import load
from maskgit.checkpoint import file_digest, read_tensors


def mean_abs_difference(a, b, **_):
    """A cheap stand-in for FID where a script's rows are checked (FID itself: test_fid.py)."""
    return float(np.abs(a.astype(float) - b).mean())


def read_log(folder):
    with open(os.path.join(folder, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def vq_run(tiny_data_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("vq"))
    code = train.main(["vqgan", "--data-root", tiny_data_root, "--out", out, "--steps", "60",
                       "--batch-size", "8", "--channels", "16", "32", "32", "--res-blocks", "1",
                       "--val-every", "20", "--gan-start", "0.8", "--disc-channels", "16", "--device", "cpu"])
    assert code == 0
    return out


def test_vqgan_training_lowers_reconstruction_error(vq_run):
    log = read_log(vq_run)
    steps = [r for r in log if "rec_loss" in r]
    assert steps[-1]["val_psnr"] > steps[0]["val_psnr"]
    assert os.path.exists(os.path.join(vq_run, "vqgan.json"))
    assert os.path.exists(os.path.join(vq_run, "vqgan_pregan.json"))
    # the adversarial phase never changes the tokens: encoders are identical
    from maskgit.pipeline import load_vqgan
    a, b = load_vqgan(vq_run, "vqgan_pregan"), load_vqgan(vq_run, "vqgan")
    assert all(torch.equal(a.encoder.state_dict()[k], b.encoder.state_dict()[k]) for k in a.encoder.state_dict())


def test_vqgan_resumes_where_it_stopped(vq_run, tiny_data_root):
    state = json.load(open(os.path.join(vq_run, "state.json")))
    assert state["info"]["step"] == 60
    code = train.main(["vqgan", "--data-root", tiny_data_root, "--out", vq_run, "--steps", "64",
                       "--batch-size", "8", "--channels", "16", "32", "32", "--res-blocks", "1",
                       "--gan-start", "0.8", "--disc-channels", "16", "--device", "cpu"])
    assert code == 0
    state = json.load(open(os.path.join(vq_run, "state.json")))
    assert state["info"]["step"] == 64  # continued from 60, did not restart
    files = [f for f in os.listdir(vq_run) if f.startswith("state-")]
    assert len(files) == 1  # the superseded state file was removed


def test_transformer_training_lowers_masked_loss(vq_run, tiny_data_root, tmp_path):
    out, export = str(tmp_path / "tr"), str(tmp_path / "ckpt")
    code = train.main(["transformer", "--data-root", tiny_data_root, "--vqgan", vq_run, "--out", out,
                       "--steps", "60", "--batch-size", "16", "--dim", "32", "--layers", "2", "--heads", "4",
                       "--val-every", "20", "--lr", "2e-3", "--device", "cpu", "--export-to", export])
    assert code == 0
    log = [r for r in read_log(out) if "loss" in r]
    assert log[-1]["val_loss"] < log[0]["val_loss"]
    assert any(f.startswith("tokens-") for f in os.listdir(out))  # tokens cached once
    # the exported transformer works with the tokenizer that made its tokens
    for ext in ("json", "safetensors"):
        shutil.copy(os.path.join(vq_run, f"vqgan.{ext}"), export)
    model = load(export, device="cpu")
    image = torch.rand(1, 3, 64, 64)
    hole = torch.zeros(1, 64, 64, dtype=torch.bool)
    hole[:, 8:24, 8:24] = True
    assert model.inpaint(image, hole, sweet_spot=3, total_iter=3).image.shape == (1, 3, 64, 64)


def test_transformer_on_distinct_faces_records_it(vq_run, tiny_data_root, tmp_path, capsys):
    # a train folder where every face is stored twice: --distinct trains on each once
    root = tmp_path / "doubled"
    shutil.copytree(tiny_data_root, root)
    n = len(os.listdir(root / "train"))
    for name in os.listdir(root / "train"):
        shutil.copy(root / "train" / name, root / "train" / f"copy_{name}")
    tiny = ["--batch-size", "8", "--dim", "32", "--layers", "2", "--heads", "4", "--device", "cpu"]
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    assert train.main(["transformer", "--data-root", str(root), "--vqgan", vq_run, "--out", first,
                       "--steps", "1", *tiny]) == 0
    assert train.main(["transformer", "--data-root", str(root), "--vqgan", vq_run, "--out", second,
                       "--init-from", first, "--distinct", "--steps", "1", "--device", "cpu"]) == 0
    [cache] = [f for f in os.listdir(second) if f.startswith("tokens-")]
    assert cache.endswith("-all-distinct.safetensors")
    # resuming that folder on other data is refused, not mixed in
    assert train.main(["transformer", "--data-root", str(root), "--vqgan", vq_run, "--out", second,
                       "--steps", "2", "--device", "cpu"]) == 2
    assert "holds a run on data 'all-distinct'" in capsys.readouterr().err
    tokens = read_tensors(os.path.join(second, cache))
    assert len(tokens["train"]) == 2 * n  # each distinct face and its mirror image
    with open(os.path.join(first, "transformer.json")) as f:
        assert "distinct" not in json.load(f)["info"]
    with open(os.path.join(second, "transformer.json")) as f:
        info = json.load(f)["info"]
    assert info["distinct"] is True and info["init_from"] == first
    assert info["init_from_digest"] == file_digest(os.path.join(first, "transformer.safetensors"))


def test_tokenize_only_then_train_without_the_images(vq_run, tiny_data_root, tmp_path, capsys):
    # tokenize where the images are; train where only the run folder travels
    out = str(tmp_path / "run")
    assert train.main(["transformer", "--data-root", tiny_data_root, "--vqgan", vq_run, "--out", out,
                       "--tokenize-only", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "tokens of 96 train sequences (with flips) and 12 val faces in " in printed
    [cache] = [f for f in os.listdir(out) if f.startswith("tokens-")]
    assert cache in printed
    assert not os.path.exists(os.path.join(out, "transformer.json"))
    no_images = tmp_path / "no_images"
    (no_images / "train").mkdir(parents=True)
    (no_images / "val").mkdir()
    assert train.main(["transformer", "--data-root", str(no_images), "--vqgan", vq_run, "--out", out,
                       "--steps", "2", "--batch-size", "8", "--dim", "32", "--layers", "2", "--heads", "4",
                       "--device", "cpu"]) == 0
    assert os.path.exists(os.path.join(out, "transformer.json"))
    # a cache for other data is not this run's: a clear refusal, naming what was found
    assert train.main(["transformer", "--data-root", str(no_images), "--vqgan", vq_run, "--out", out,
                       "--distinct", "--steps", "1", "--fresh", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "no tokens cache" in err and cache in err


def test_transformer_continues_from_finished_weights(vq_run, tiny_data_root, tmp_path, capsys):
    first = str(tmp_path / "first")
    tiny = ["--batch-size", "8", "--dim", "32", "--layers", "2", "--heads", "4", "--device", "cpu"]
    assert train.main(["transformer", "--data-root", tiny_data_root, "--vqgan", vq_run, "--out", first,
                       "--steps", "10", *tiny]) == 0
    # Learning rate 0: the continued run's weights must be exactly the ones it started from,
    # with the size taken from the checkpoint (the default --dim 384 is ignored).
    second = str(tmp_path / "second")
    assert train.main(["transformer", "--data-root", tiny_data_root, "--vqgan", vq_run, "--out", second,
                       "--init-from", first, "--steps", "3", "--lr", "0", "--device", "cpu"]) == 0
    from maskgit.pipeline import load_transformer
    a, b = load_transformer(first), load_transformer(second)
    assert b.config.dim == 32
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    # Tokens from another tokenizer would mean other things: refused with a clear message.
    # The decoder does not count (phase B's final tokenizer shares vqgan_pregan's encoder);
    # any change to the encoder does.
    other = tmp_path / "other_tokenizer"
    copy_tokenizer(vq_run, other, "vqgan_pregan", nudge_encoder=True)
    third = tmp_path / "third"
    code = train.main(["transformer", "--data-root", tiny_data_root, "--vqgan", str(other),
                       "--out", str(third), "--init-from", first, "--steps", "3", "--device", "cpu"])
    assert code == 2
    assert "same tokenizer" in capsys.readouterr().err
    assert not third.exists()  # refused before anything was written
    assert train.main(["transformer", "--data-root", tiny_data_root, "--vqgan", vq_run,
                       "--vqgan-name", "vqgan_pregan", "--out", str(tmp_path / "fourth"),
                       "--init-from", first, "--steps", "1", "--device", "cpu"]) == 0


def copy_tokenizer(src, dst, name, nudge_encoder=False):
    """`src/name` saved as `dst/vqgan`, optionally with one encoder weight changed."""
    from maskgit.checkpoint import save_checkpoint
    from maskgit.pipeline import load_vqgan
    vq = load_vqgan(src, name)
    if nudge_encoder:
        with torch.no_grad():
            vq.encoder.net[0].weight.add_(0.5)
    save_checkpoint(vq, str(dst), "vqgan", "vqgan", {})


def test_decoder_only_tuning_keeps_the_tokens(vq_run, tiny_data_root, tmp_path):
    from maskgit.pipeline import load_vqgan
    from maskgit.checkpoint import tokens_digest
    out = str(tmp_path / "dec")
    run = ["vqgan", "--data-root", tiny_data_root, "--out", out, "--init-from", vq_run, "--disc-weight", "0",
           "--batch-size", "8", "--lr", "1e-3", "--val-every", "2", "--device", "cpu"]
    assert train.main(run + ["--decoder-only", "--steps", "6"]) == 0
    before, after = load_vqgan(vq_run).state_dict(), load_vqgan(out).state_dict()
    assert load_vqgan(out).config == load_vqgan(vq_run).config  # the size came from --init-from
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert tokens_digest(out, "vqgan") == tokens_digest(vq_run, "vqgan")
    phases = [r["phase"] for r in read_log(out) if "phase" in r]
    assert phases == ["B", "B", "B"]  # frozen from the first step
    assert not os.path.exists(os.path.join(out, "vqgan_pregan.json"))  # no GAN, no switch to mark
    # resuming it without --decoder-only would train the encoder: refused, state untouched
    state = open(os.path.join(out, "state.json")).read()
    assert train.main(run + ["--steps", "8"]) == 2
    assert open(os.path.join(out, "state.json")).read() == state
    assert train.main(run + ["--decoder-only", "--steps", "8"]) == 0
    assert json.load(open(os.path.join(out, "state.json")))["info"]["step"] == 8
    assert all(torch.equal(before[k], v) for k, v in load_vqgan(out).state_dict().items()
               if k.startswith("encoder."))


def test_decoder_only_needs_a_tokenizer_to_start_from(tiny_data_root, tmp_path, capsys):
    code = train.main(["vqgan", "--data-root", tiny_data_root, "--out", str(tmp_path / "o"),
                       "--decoder-only", "--steps", "1", "--device", "cpu"])
    assert code == 2
    assert "--init-from" in capsys.readouterr().err
    code = train.main(["vqgan", "--data-root", tiny_data_root, "--out", str(tmp_path / "o"),
                       "--disc-weight", "-1", "--steps", "1", "--device", "cpu"])
    assert code == 2
    assert "--disc-weight" in capsys.readouterr().err


def test_a_transformer_keyed_by_the_old_file_digest_still_continues(vq_run, tiny_data_root, tmp_path):
    """Checkpoints of releases before v0.3 name their tokenizer by the digest of its file."""
    from maskgit.checkpoint import file_digest
    first = str(tmp_path / "first")
    tiny = ["--batch-size", "8", "--dim", "32", "--layers", "2", "--heads", "4", "--device", "cpu"]
    assert train.main(["transformer", "--data-root", tiny_data_root, "--vqgan", vq_run, "--out", first,
                       "--steps", "2", *tiny]) == 0
    meta_path = os.path.join(first, "transformer.json")
    meta = json.load(open(meta_path))
    meta["info"]["tokenizer"] = file_digest(os.path.join(vq_run, "vqgan.safetensors"))
    json.dump(meta, open(meta_path, "w"))
    assert train.main(["transformer", "--data-root", tiny_data_root, "--vqgan", vq_run,
                       "--out", str(tmp_path / "second"), "--init-from", first, "--steps", "1",
                       "--device", "cpu"]) == 0


def test_training_needs_a_budget(tiny_data_root, tmp_path):
    with pytest.raises(SystemExit):
        train.main(["vqgan", "--data-root", tiny_data_root, "--out", str(tmp_path)])


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    code = train.main(["vqgan", "--data-root", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                       "--steps", "1", "--device", "cpu"])
    assert code == 2
    assert "image folder not found" in capsys.readouterr().err


def test_evaluate_scores_a_runs_tokenizers_on_val_faces(vq_run, tiny_data_root, monkeypatch, capsys):
    from maskgit import evaluate
    from maskgit.checkpoint import tokens_digest
    monkeypatch.setattr(evaluate, "fid", mean_abs_difference)
    rows = []
    for name in ("vqgan", "vqgan_pregan"):
        assert evaluate.main(["--val-dir", os.path.join(tiny_data_root, "val"), "--limit", "4", "--checkpoints",
                              vq_run, "--recon", "--tokenizer-name", name, "--json", "--device", "cpu"]) == 0
        rows.append(json.loads(capsys.readouterr().out.splitlines()[-1]))
    assert tokens_digest(vq_run, "vqgan") == tokens_digest(vq_run, "vqgan_pregan")  # phase B kept the encoder
    assert rows[0]["n_images"] == 4 and all(r["psnr"] > 5 and r["fid"] > 0 for r in rows)
    assert rows[0]["psnr"] != rows[1]["psnr"]  # the decoders differ
    assert evaluate.main(["--val-dir", os.path.join(tiny_data_root, "val"), "--checkpoints", vq_run, "--recon",
                          "--tokenizer-name", "vqgan_nope", "--device", "cpu"]) == 2
    assert "vqgan_nope" in capsys.readouterr().err


def test_regularised_gan_tunes_the_decoder_and_logs_the_discriminator(vq_run, tiny_data_root, tmp_path):
    from maskgit.pipeline import load_vqgan
    out = str(tmp_path / "gan")
    run = ["vqgan", "--data-root", tiny_data_root, "--out", out, "--init-from", vq_run, "--decoder-only",
           "--disc-weight", "0.5", "--disc-augment", "--lecam-weight", "0.1", "--gan-start", "0",
           "--disc-channels", "16", "--batch-size", "8", "--val-every", "3", "--device", "cpu"]
    assert train.main(run + ["--steps", "6"]) == 0
    records = [r for r in read_log(out) if "d_loss" in r]
    assert [r["step"] for r in records] == [3, 6]
    assert all(r["gan_weight"] >= 0 and r["d_real"] == r["d_real"] for r in records)  # finite
    before, after = load_vqgan(vq_run).state_dict(), load_vqgan(out).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    # the LeCam running means travel with the state, so a resumed run goes on from them
    lecam = json.load(open(os.path.join(out, "state.json")))["info"]["lecam"]
    assert lecam["real_mean"] != 0 and lecam["fake_mean"] != 0
    # resumed at its budget: no step runs, and the state written again holds the same means
    assert train.main(run + ["--steps", "6"]) == 0
    assert json.load(open(os.path.join(out, "state.json")))["info"]["lecam"] == pytest.approx(lecam)
    assert train.main(run + ["--steps", "7"]) == 0
    assert json.load(open(os.path.join(out, "state.json")))["info"]["lecam"] != lecam


def test_feature_matching_moves_the_decoder_and_is_logged(vq_run, tiny_data_root, tmp_path):
    from maskgit.pipeline import load_vqgan

    def tuned(name, share):
        out = str(tmp_path / name)
        assert train.main(["vqgan", "--data-root", tiny_data_root, "--out", out, "--init-from", vq_run,
                           "--decoder-only", "--disc-weight", "0.1", "--feature-matching", share,
                           "--gan-start", "0", "--disc-channels", "16", "--batch-size", "8", "--steps", "3",
                           "--val-every", "3", "--device", "cpu"]) == 0
        return out, load_vqgan(out).state_dict()

    out, with_fm = tuned("fm", "1.0")
    record = [r for r in read_log(out) if "d_loss" in r][-1]
    assert record["fm"] > 0 and record["fm_weight"] > 0
    assert json.load(open(os.path.join(out, "vqgan.json")))["info"]["adversary"]["feature_matching"] == 1.0
    # a resume with other adversarial settings is refused, and changes nothing
    state = open(os.path.join(out, "state.json")).read()
    assert train.main(["vqgan", "--data-root", tiny_data_root, "--out", out, "--init-from", vq_run,
                       "--decoder-only", "--disc-weight", "0.1", "--feature-matching", "0.5", "--gan-start", "0",
                       "--disc-channels", "16", "--batch-size", "8", "--steps", "4", "--device", "cpu"]) == 2
    assert open(os.path.join(out, "state.json")).read() == state
    _, without = tuned("plain", "0")
    assert "fm" not in [r for r in read_log(str(tmp_path / "plain")) if "d_loss" in r][-1]
    # same seed, data and discriminator: only the feature-matching term differs
    assert any(not torch.equal(with_fm[k], without[k]) for k in with_fm if k.startswith("decoder."))


def test_the_discriminator_travels_with_the_decoder(vq_run, tiny_data_root, tmp_path, capsys):
    from maskgit.training.discriminator import DISC_NAME

    def tune(out, init, *flags):
        return train.main(["vqgan", "--data-root", tiny_data_root, "--out", str(out), "--init-from", str(init),
                           "--decoder-only", "--disc-weight", "0.1", "--feature-matching", "0.5",
                           "--gan-start", "0", "--disc-channels", "16", "--batch-size", "8",
                           "--val-every", "50", "--device", "cpu", *flags])

    def disc_tensors(folder):
        return read_tensors(os.path.join(folder, f"{DISC_NAME}.safetensors"))

    assert os.path.exists(os.path.join(vq_run, f"{DISC_NAME}.json"))  # a GAN run keeps its discriminator
    plain = tmp_path / "plain"  # the tokenizer alone
    plain.mkdir()
    for ext in ("json", "safetensors"):
        shutil.copy(os.path.join(vq_run, f"vqgan.{ext}"), plain)
    first, export = tmp_path / "first", tmp_path / "export"
    assert tune(first, plain, "--steps", "3", "--export-to", str(export)) == 0
    assert "discriminator: fresh" in capsys.readouterr().out
    saved, exported = disc_tensors(first), disc_tensors(export)
    assert saved.keys() == exported.keys() and all(torch.equal(saved[k], exported[k]) for k in saved)
    assert json.load(open(export / f"{DISC_NAME}.json"))["info"]["vqgan"] == file_digest(str(export / "vqgan.safetensors"))
    assert json.load(open(first / "vqgan.json"))["info"]["disc_from"] == "fresh"
    # a run from the exported weights starts from that discriminator: with its learning rate
    # at 0 it ends holding exactly the tensors it was given
    second = tmp_path / "second"
    assert tune(second, export, "--steps", "2", "--disc-lr", "0") == 0
    assert f"discriminator: from {export}" in capsys.readouterr().out
    assert all(torch.equal(saved[k], v) for k, v in disc_tensors(second).items())
    assert json.load(open(second / "vqgan.json"))["info"]["disc_from"] == str(export)
    # beside another decoder than the one it was trained against, it is not used
    for ext in ("json", "safetensors"):
        shutil.copy(export / f"{DISC_NAME}.{ext}", plain)
    assert tune(tmp_path / "stale", plain, "--steps", "1") == 0
    out = capsys.readouterr().out
    assert "trained against another decoder" in out and "discriminator: fresh" in out
    # another size, a config of another kind, or corrupt weights: a clear error, nothing written
    assert tune(tmp_path / "wide", export, "--steps", "1", "--disc-channels", "32") == 2
    assert "--disc-channels" in capsys.readouterr().err
    with open(plain / f"{DISC_NAME}.json", "w") as f:
        json.dump({"kind": "vqgan", "config": {"channels": 16}}, f)
    assert tune(tmp_path / "kind", plain, "--steps", "1") == 2
    assert "not a discriminator config" in capsys.readouterr().err
    with open(export / f"{DISC_NAME}.safetensors", "r+b") as f:
        f.truncate(100)
    assert tune(tmp_path / "corrupt", export, "--steps", "1") == 2
    assert "corrupt" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("wide", "kind", "corrupt"))


def test_disc_warmup_trains_the_discriminator_alone_first_and_resumes_where_it_stopped(
        vq_run, tiny_data_root, tmp_path, monkeypatch):
    from maskgit.pipeline import load_vqgan
    from maskgit.training.common import Budget
    from maskgit.training.discriminator import DISC_NAME
    out = tmp_path / "warm"
    run = ["vqgan", "--data-root", tiny_data_root, "--out", str(out), "--init-from", vq_run, "--decoder-only",
           "--disc-weight", "0.1", "--gan-start", "0", "--disc-channels", "16", "--batch-size", "8",
           "--val-every", "50", "--disc-lr", "1e-2", "--device", "cpu"]

    def state_info():
        return json.load(open(out / "state.json"))["info"]

    # stop the first run after two warm-up steps, as a kill would: the budget reads "done" at
    # its fourth look (the main loop's first, then one before each warm-up step)
    looks, real_done = [], Budget.done
    monkeypatch.setattr(Budget, "done", lambda self, step: looks.append(step) or len(looks) >= 4 or
                        real_done(self, step))
    assert train.main(run + ["--disc-warmup", "5", "--steps", "1"]) == 0
    monkeypatch.setattr(Budget, "done", real_done)
    assert [r["disc_warmup_steps"] for r in read_log(str(out)) if "disc_warmup_steps" in r] == [2]
    assert state_info()["step"] == 0 and state_info()["disc_warmup_left"] == 3
    assert state_info()["disc_from"] == vq_run  # vq_run's own discriminator, trained against its decoder
    before, after = load_vqgan(vq_run).state_dict(), load_vqgan(str(out)).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the warm-up leaves the decoder alone
    assert json.load(open(out / "vqgan.json"))["info"]["disc_warmup"] == 2
    # resumed (the flag cannot change the plan a run started with): the 3 steps left, then the decoder's
    assert train.main(run + ["--disc-warmup", "50", "--steps", "2"]) == 0
    assert [r["disc_warmup_steps"] for r in read_log(str(out)) if "disc_warmup_steps" in r] == [2, 3]
    assert state_info()["step"] == 2 and state_info()["disc_warmup_left"] == 0
    assert json.load(open(out / "vqgan.json"))["info"]["disc_warmup"] == 5
    # the critic it started from (vq_run's) was trained, not merely carried
    start, end = read_tensors(os.path.join(vq_run, f"{DISC_NAME}.safetensors")), \
        read_tensors(str(out / f"{DISC_NAME}.safetensors"))
    assert any(not torch.equal(start[k], end[k]) for k in start)


@pytest.mark.parametrize("flags, named", [(["--lecam-weight", "-0.1"], "--lecam-weight"),
                                          (["--disc-augment", "colour,blur"], "blur"),
                                          (["--disc-weight", "0", "--disc-augment"], "--disc-weight above 0"),
                                          (["--feature-matching", "-1"], "--feature-matching"),
                                          (["--disc-warmup", "-1"], "--disc-warmup"),
                                          (["--disc-weight", "0", "--disc-warmup", "10"],
                                           "--disc-weight above 0"),
                                          (["--disc-weight", "0", "--feature-matching", "0.5"],
                                           "--disc-weight above 0"),
                                          (["--gan-start", "1.5"], "from 0 to 1"),
                                          (["--gan-start", "-0.1"], "from 0 to 1"),
                                          (["--gan-start", "1", "--disc-weight", "0.1", "--feature-matching", "0.5"],
                                           "never starts")])
def test_bad_discriminator_settings_are_refused(tiny_data_root, tmp_path, capsys, flags, named):
    out = tmp_path / "o"
    code = train.main(["vqgan", "--data-root", tiny_data_root, "--out", str(out), "--steps", "1",
                       "--device", "cpu"] + flags)
    assert code == 2
    assert named in capsys.readouterr().err
    assert not out.exists()  # refused before anything was written


def test_gan_start_1_without_a_discriminator_trains_encoder_and_decoder_throughout(tiny_data_root, tmp_path):
    # the refusal above is only for a GAN that would never start; without one, 1 is a plain run
    out = str(tmp_path / "o")
    code = train.main(["vqgan", "--data-root", tiny_data_root, "--out", out, "--steps", "2", "--batch-size", "4",
                       "--channels", "16", "32", "32", "--res-blocks", "1", "--gan-start", "1",
                       "--disc-weight", "0", "--device", "cpu"])
    assert code == 0
    assert read_log(out)[-1]["step"] == 2


def test_ema_exports_the_average_and_resumes_it(vq_run, tiny_data_root, tmp_path, capsys, monkeypatch):
    from maskgit.pipeline import load_vqgan
    from maskgit.training.common import load_state
    out = str(tmp_path / "ema")

    def tune(steps, *extra):
        return train.main(["vqgan", "--data-root", tiny_data_root, "--out", out, "--init-from", vq_run,
                           "--decoder-only", "--disc-weight", "0.1", "--feature-matching", "0.5", "--gan-start", "0",
                           "--disc-channels", "16", "--batch-size", "8", "--steps", str(steps), "--lr", "0.2",
                           "--val-every", "1", "--device", "cpu", *extra])

    def decoders():
        """(average, last step's weights) from the run's state, fp32 (exports are fp16)."""
        parts, _ = load_state(out)
        return parts["ema"], {k: v for k, v in parts["model"].items() if k.startswith("decoder.")}

    start = {k: v for k, v in load_vqgan(vq_run).state_dict().items() if k.startswith("decoder.")}
    assert tune(1, "--ema", "0.5") == 0
    assert json.load(open(os.path.join(out, "vqgan.json")))["info"]["ema"] == {"decay": 0.5, "since_step": 0}
    assert "ema_val_psnr" in read_log(out)[-2]
    averaged, last = decoders()
    assert set(averaged) == set(last)  # the decoder's tensors only: the encoder is never averaged
    assert all((last[k] - start[k]).abs().max() > 1e-3 for k in last)  # a real step
    # one step: halfway between where the decoder started and where it went
    assert all(torch.allclose(averaged[k], (start[k] + last[k]) / 2, atol=1e-6) for k in last)
    # exported: the average as vqgan, the last step's weights as vqgan_raw (to fp16 precision)
    exported, raw = load_vqgan(out).state_dict(), load_vqgan(out, "vqgan_raw").state_dict()
    assert all(torch.allclose(exported[k], averaged[k], atol=1e-3) for k in last)
    assert all(torch.allclose(raw[k], last[k], atol=1e-3) for k in last)
    from maskgit.checkpoint import tokens_digest
    assert tokens_digest(out, "vqgan") == tokens_digest(out, "vqgan_raw") == tokens_digest(vq_run, "vqgan")
    # the resume carries the average on: the next step halves the distance again
    assert tune(2, "--ema", "0.5") == 0
    again, last2 = decoders()
    assert all(torch.allclose(again[k], (averaged[k] + last2[k]) / 2, atol=1e-6) for k in last2)
    # without --ema the average is dropped, and the last step's weights are exported
    assert tune(3) == 0
    assert "is dropped" in capsys.readouterr().out
    assert "ema" not in json.load(open(os.path.join(out, "vqgan.json")))["info"]
    assert not os.path.exists(os.path.join(out, "vqgan_raw.json"))  # the last run's: not this one's
    assert "ema" not in load_state(out)[0]
    # a state saved without the average starts one where it stands, and says so
    assert tune(4, "--ema", "0.9") == 0
    assert "starts at step 3" in capsys.readouterr().out
    assert json.load(open(os.path.join(out, "vqgan.json")))["info"]["ema"] == {"decay": 0.9, "since_step": 3}
    # another decay does not continue this average: a new one starts
    assert tune(5, "--ema", "0.5") == 0
    assert "starts a new one" in capsys.readouterr().out
    assert json.load(open(os.path.join(out, "vqgan.json")))["info"]["ema"] == {"decay": 0.5, "since_step": 4}


def test_ema_of_a_full_run_starts_when_the_encoder_freezes(tiny_data_root, tmp_path):
    out = str(tmp_path / "o")
    assert train.main(["vqgan", "--data-root", tiny_data_root, "--out", out, "--steps", "4", "--batch-size", "4",
                       "--channels", "16", "32", "32", "--res-blocks", "1", "--gan-start", "0.5",
                       "--disc-weight", "0", "--ema", "0.9", "--device", "cpu"]) == 0
    assert json.load(open(os.path.join(out, "vqgan.json")))["info"]["ema"] == {"decay": 0.9, "since_step": 2}
    assert "ema" not in json.load(open(os.path.join(out, "vqgan_pregan.json")))["info"]  # the switch's own


def test_ema_averages_only_the_tensors_it_tracks():
    from maskgit.errors import MaskGITError
    from maskgit.training.common import EMA
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight[0, 0] = -0.0  # a frozen -0.0 must keep its sign: exports are named by their bytes
    ema = EMA(model, 0.5, prefix="1.")
    assert set(ema.shadow) == {"1.weight", "1.bias"}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model[1].weight.add_(2.0)
    ema.update(model)
    target = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    target.load_state_dict(model.state_dict())
    ema.copy_to(target)
    assert torch.allclose(target[1].weight, before["1.weight"] + 1.0)  # halfway
    assert torch.equal(target[0].weight, model[0].weight) and torch.signbit(target[0].weight[0, 0])
    # a saved average of other tensors is refused, not half loaded
    with pytest.raises(MaskGITError, match="does not match"):
        ema.load({"1.weight": torch.zeros(2, 2)})
    # without a prefix it averages everything, as stage 2 does
    full = EMA(model, 0.5)
    assert set(full.shadow) == set(model.state_dict())


@pytest.mark.parametrize("decay", ["1", "-0.1", "1.5"])
def test_impossible_ema_decay_is_refused(tiny_data_root, tmp_path, capsys, decay):
    out = tmp_path / "o"
    assert train.main(["vqgan", "--data-root", tiny_data_root, "--out", str(out), "--steps", "1",
                       "--ema", decay, "--device", "cpu"]) == 2
    assert "--ema" in capsys.readouterr().err
    assert not out.exists()


def guide_argv(vq_run, data_root, out, *extra):
    return ["guide", "--data-root", data_root, "--tokenizer", vq_run, "--out", out, "--batch-size", "8",
            "--channels", "8", "16", "--holes", "64", "--val-limit", "8", "--device", "cpu", *extra]


@pytest.fixture(scope="module")
def guide_run(vq_run, tiny_data_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("guide"))
    code = train.main(guide_argv(vq_run, tiny_data_root, out, "--steps", "40", "--val-every", "20",
                                 "--lr", "2e-3", "--ragged", "0.5", "--disc-weight", "0", "--feature-matching", "0"))
    assert code == 0
    return out


def test_guide_learns_to_keep_the_known_pixels(guide_run):
    final = read_log(guide_run)[-1]
    # it starts as the tokens-only decoder (zero last layer) and learns to copy the known pixels
    assert final["val_psnr_known"] > final["val_psnr_known_tokens"] + 1
    assert final["val_psnr_known_ragged"] > final["val_psnr_known_tokens"] + 1
    meta = json.load(open(os.path.join(guide_run, "guide.json")))
    assert meta["info"]["ragged"] == 0.5


def test_guide_continues_from_another_run(guide_run, vq_run, tiny_data_root, tmp_path):
    out = str(tmp_path / "more")
    code = train.main(guide_argv(vq_run, tiny_data_root, out, "--steps", "1", "--lr", "1e-12",
                                 "--disc-weight", "0", "--feature-matching", "0", "--init-from", guide_run))
    assert code == 0
    start, after = read_tensors(os.path.join(guide_run, "guide.safetensors")), read_tensors(os.path.join(out, "guide.safetensors"))
    assert all(torch.allclose(start[k].float(), after[k].float(), atol=1e-3) for k in start)
    assert start["conv_out.weight"].abs().sum() > 0  # not two untrained guides
    meta = json.load(open(os.path.join(out, "guide.json")))
    assert meta["info"]["init_from_digest"] == file_digest(os.path.join(guide_run, "guide.safetensors"))


@pytest.mark.parametrize("flags, message", [
    (["--init-from", "nowhere"], "holds no guide"),
    (["--channels", "8", "16", "16"], "channels"),
    (["--ragged", "1.5"], "share between 0 and 1"),
    (["--sampled", "-0.5"], "sampled is a share between 0 and 1"),
    (["--sampled", "0.5", "--sampled-faces", "0"], "sampled_faces must be at least 1"),
    (["--sampled", "0.5", "--sampled-target", "teacher"], "needs --sampled and --init-from"),
    (["--sampled-target", "teacher", "--init-from", "checkpoints"], "needs --sampled and --init-from"),
])
def test_guide_refuses_a_start_it_cannot_use(guide_run, vq_run, tiny_data_root, tmp_path, capsys, flags, message):
    out = str(tmp_path / "refused")
    argv = guide_argv(vq_run, tiny_data_root, out, "--steps", "1", "--disc-weight", "0", "--feature-matching", "0")
    if "--channels" not in flags:
        argv += flags
    else:
        argv = argv[:argv.index("--channels")] + flags + ["--init-from", guide_run] + argv[argv.index("--holes"):]
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not os.path.exists(out)


@pytest.fixture(scope="module")
def tiny_transformer(vq_run, tmp_path_factory):
    """An untrained transformer for vq_run's tokens: its samples are as good as any for the
    guide's plumbing."""
    from maskgit.checkpoint import save_checkpoint
    from maskgit.pipeline import load_vqgan
    from maskgit.transformer import BidirectionalTransformer, TransformerConfig
    vq = load_vqgan(vq_run)
    folder = str(tmp_path_factory.mktemp("transformer"))
    torch.manual_seed(0)
    model = BidirectionalTransformer(TransformerConfig(vocab_size=vq.codebook_size, n_tokens=vq.config.grid_size ** 2,
                                                       dim=32, n_layers=1, n_heads=2))
    save_checkpoint(model, folder, "transformer", "transformer")
    return folder


def test_guide_trains_on_the_transformers_inpaintings(vq_run, tiny_transformer, tiny_data_root, tmp_path):
    from maskgit.errors import MaskGITError
    from maskgit.pipeline import load_vqgan
    from maskgit.training.guide_samples import transformer_samples
    out = str(tmp_path / "sampled")
    code = train.main(guide_argv(vq_run, tiny_data_root, out, "--steps", "4", "--val-every", "2",
                                 "--disc-weight", "0", "--feature-matching", "0", "--ragged", "0.5",
                                 "--sampled", "0.5", "--sampled-faces", "6", "--transformer", tiny_transformer))
    assert code == 0
    log = read_log(out)
    assert all("val_psnr_known_sampled" in r and "val_psnr_known_sampled_tokens" in r for r in log)
    assert json.load(open(os.path.join(out, "guide.json")))["info"]["sampled"] == 0.5
    cached = read_tensors(os.path.join(out, "samples-train.safetensors"))
    assert cached["tokens"].shape[0] == 6 and len(set(cached["index"].tolist())) == 6
    assert read_tensors(os.path.join(out, "samples-val.safetensors"))["tokens"].shape[0] == 8  # --val-limit

    # a smaller count is served from the cache (the same faces and holes) with no transformer at hand;
    # a larger one would have to draw, and says what is missing
    vq = load_vqgan(vq_run)
    from maskgit.data import load_image_folder
    truth = load_image_folder(os.path.join(tiny_data_root, "train"))
    args = dict(tokenizer=vq_run, transformer=str(tmp_path), seed=0, ragged=0.5, device="cpu")
    index, holes, tokens = transformer_samples(os.path.join(out, "samples-train.safetensors"), vq, truth, n_faces=4, **args)
    assert torch.equal(tokens, cached["tokens"][:4].long()) and torch.equal(index, cached["index"][:4])
    with pytest.raises(MaskGITError, match="holds no transformer"):
        transformer_samples(os.path.join(out, "samples-train.safetensors"), vq, truth, n_faces=8, **args)


def test_sampled_share_of_a_batch_keeps_its_own_hole_and_the_sample_in_it():
    from maskgit.training.guide import sample_batch
    n, size = 10, 8
    truth = torch.full((n, 3, size, size), 200, dtype=torch.uint8)
    recon = torch.full((n, 3, size, size), 100, dtype=torch.uint8)
    bank = torch.zeros(4, size, size, dtype=torch.bool)
    bank[:, :2] = True
    s_holes = torch.zeros(3, size, size, dtype=torch.bool)
    s_holes[:, 3:5, 3:5] = True  # symmetric under the horizontal flip
    samples = (torch.tensor([1, 2, 3]), s_holes, torch.full((3, 3, size, size), 0, dtype=torch.uint8))
    gen = torch.Generator().manual_seed(0)
    x, r, target, holes = sample_batch((truth, recon), bank, 8, gen, "cpu", samples, share=0.25)
    assert x.shape == (8, 3, size, size) and holes.shape == (8, size, size)
    assert torch.all(x == 200 / 127.5 - 1)                   # every row is trained toward the truth...
    assert torch.all(target[:6] == x[:6])                    # ...in the hole too for the truth's tokens
    hole = holes[6:, None].expand(-1, 3, -1, -1)
    assert torch.all(r[6:] == -1) and torch.all(target[6:][hole] == -1)  # the sample is its own hole's target
    assert torch.all(target[6:][~hole] == x[6:][~hole])                 # and the truth around it
    assert torch.all(holes[6:] == s_holes[0]) and holes[:6].sum(dim=(1, 2)).eq(16).all()
    _, _, _, holes = sample_batch((truth, recon), bank, 8, gen, "cpu", None, share=0.25)
    assert holes.sum(dim=(1, 2)).eq(16).all()                # no samples: the bank alone


def test_sampled_targets_change_only_the_sampled_rows():
    from maskgit.masks import paste_back
    from maskgit.training.guide import sampled_targets

    class Teacher(torch.nn.Module):  # its output says which rows it read
        def forward(self, r, x, holes):
            return r + 10 * holes[:, None].float()

    x, r = torch.zeros(5, 3, 6, 6), torch.arange(5.).view(5, 1, 1, 1).expand(5, 3, 6, 6)
    target, holes = torch.full((5, 3, 6, 6), -7.), torch.zeros(5, 6, 6, dtype=torch.bool)
    holes[:, 2:4, 2:4] = True
    hole = holes[3:, None].expand(-1, 3, -1, -1)
    _, _, taught, same_holes = sampled_targets("teacher", x, r, target, holes, 2, teacher=Teacher())
    assert torch.equal(taught[:3], target[:3]) and torch.equal(same_holes, holes)
    assert torch.equal(taught[3:][hole], (r[3:] + 10)[hole]) and torch.all(taught[3:][~hole] == 0)
    _, _, blended, _ = sampled_targets("composite", x, r, target, holes, 2)
    assert torch.equal(blended[:3], target[:3]) and torch.equal(blended[3:], paste_back(r[3:], x[3:], holes[3:]))
    ring = (blended[3:] != 0) & ~hole  # the feather: known pixels next to the hole lean to the sample
    assert ring.any() and not ring[..., 0, :].any()
    for mode in ("sample", "teacher", "composite"):
        assert torch.equal(sampled_targets(mode, x, r, target, holes, 0, teacher=Teacher())[2], target)
    assert torch.equal(sampled_targets("sample", x, r, target, holes, 2)[2], target)


@pytest.mark.parametrize("target", ["teacher", "composite"])
def test_guide_trains_on_sampled_targets(guide_run, vq_run, tiny_transformer, tiny_data_root, tmp_path, target):
    out = str(tmp_path / target)
    code = train.main(guide_argv(vq_run, tiny_data_root, out, "--steps", "2", "--val-every", "2",
                                 "--disc-weight", "0", "--feature-matching", "0", "--init-from", guide_run,
                                 "--sampled", "0.5", "--sampled-faces", "4", "--sampled-target", target,
                                 "--transformer", tiny_transformer))
    assert code == 0
    info = json.load(open(os.path.join(out, "guide.json")))["info"]
    assert info["sampled_target"] == target and info["init_from_digest"] == file_digest(
        os.path.join(guide_run, "guide.safetensors"))
    assert read_log(out)[-1]["step"] == 2
