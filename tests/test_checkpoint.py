import json
import os
import time

import pytest
import torch

from maskgit import CheckpointError, MaskGIT, load
from maskgit.checkpoint import load_checkpoint, save_checkpoint
from maskgit.transformer import BidirectionalTransformer, TransformerConfig
from maskgit.tokenizer import FSQAutoencoder, TokenizerConfig

SMALL_VQ = TokenizerConfig(channels=(8, 16, 16), res_blocks=1, fsq_levels=(3, 3, 3))
SMALL_TR = dict(vocab_size=27, dim=16, n_layers=1, n_heads=2)


def small_pair():
    torch.manual_seed(0)
    return FSQAutoencoder(SMALL_VQ), BidirectionalTransformer(TransformerConfig(**SMALL_TR))


def test_round_trip(tmp_path):
    vq, tr = small_pair()
    MaskGIT(vq, tr).save(tmp_path, dtype=torch.float32)
    loaded = load(tmp_path, device="cpu", bf16=False)
    for a, b in ((vq, loaded.vqgan), (tr, loaded.transformer)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert loaded.vqgan.config == vq.config and loaded.transformer.config == tr.config


def test_fp16_storage_is_close(tmp_path):
    vq, tr = small_pair()
    MaskGIT(vq, tr).save(tmp_path)  # default fp16 on disk, fp32 in memory
    loaded = load(tmp_path, device="cpu")
    w = loaded.transformer.head.weight
    assert w.dtype == torch.float32
    assert torch.allclose(w, tr.head.weight, atol=1e-3)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="missing"):
        load(tmp_path / "nowhere")


def test_truncated_weights(tmp_path):
    vq, tr = small_pair()
    MaskGIT(vq, tr).save(tmp_path)
    path = tmp_path / "transformer.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load(tmp_path)


def test_garbage_weights(tmp_path):
    vq, tr = small_pair()
    MaskGIT(vq, tr).save(tmp_path)
    (tmp_path / "vqgan.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError):
        load(tmp_path)


def test_config_that_does_not_match_weights(tmp_path):
    vq, tr = small_pair()
    MaskGIT(vq, tr).save(tmp_path)
    meta = json.loads((tmp_path / "transformer.json").read_text())
    meta["config"]["dim"] = 32
    (tmp_path / "transformer.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match its config"):
        load(tmp_path)


def test_wrong_kind_and_bad_json(tmp_path):
    vq, tr = small_pair()
    save_checkpoint(vq, tmp_path, "transformer", "vqgan")  # a vqgan saved under the wrong name
    with pytest.raises(CheckpointError, match="not a transformer"):
        load_checkpoint(tmp_path, "transformer", "transformer", BidirectionalTransformer, TransformerConfig)
    (tmp_path / "transformer.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path, "transformer", "transformer", BidirectionalTransformer, TransformerConfig)


def test_vocabulary_must_match_codebook(tmp_path):
    vq, _ = small_pair()
    other = BidirectionalTransformer(TransformerConfig(vocab_size=30, dim=16, n_layers=1, n_heads=2))
    with pytest.raises(Exception, match="vocabulary"):
        MaskGIT(vq, other)


def test_sequence_length_must_match_the_token_grid():
    vq, _ = small_pair()
    shorter = BidirectionalTransformer(TransformerConfig(n_tokens=64, **SMALL_TR))
    with pytest.raises(Exception, match="sequence length .64. does not match the tokenizer's 16x16"):
        MaskGIT(vq, shorter)
    MaskGIT(vq, BidirectionalTransformer(TransformerConfig(n_tokens=256, **SMALL_TR)))  # the right one loads


def test_changed_tensors_round_trip_through_the_script(tmp_path):
    """A decoder-only run sends back only the decoder; base + those tensors rebuilds the file."""
    from maskgit.checkpoint import read_tensors, save_tensors
    from scripts.changed_tensors import main as changed_main
    torch.manual_seed(0)
    base = FSQAutoencoder(TokenizerConfig(channels=(8, 16), res_blocks=1)).state_dict()
    tuned = {k: (v + 0.5 if k.startswith("decoder.") else v.clone()) for k, v in base.items()}
    save_tensors(base, tmp_path / "base.safetensors", torch.float16)
    save_tensors(tuned, tmp_path / "tuned.safetensors", torch.float16)
    changed_main(["extract", str(tmp_path / "base.safetensors"), str(tmp_path / "tuned.safetensors"),
                  str(tmp_path / "changed.safetensors")])
    changed = read_tensors(tmp_path / "changed.safetensors")
    assert changed and all(k.startswith("decoder.") for k in changed)
    assert len(changed) == sum(k.startswith("decoder.") for k in base)
    changed_main(["apply", str(tmp_path / "base.safetensors"), str(tmp_path / "changed.safetensors"),
                  str(tmp_path / "full.safetensors")])
    assert (tmp_path / "full.safetensors").read_bytes() == (tmp_path / "tuned.safetensors").read_bytes()


def test_changed_tensors_refuse_other_models():
    from maskgit.checkpoint import apply_changed_tensors, changed_tensors
    a = {"w": torch.zeros(2, 3)}
    with pytest.raises(CheckpointError, match="different tensors"):
        changed_tensors(a, {"v": torch.zeros(2, 3)})
    with pytest.raises(CheckpointError, match="shape"):
        changed_tensors(a, {"w": torch.zeros(3, 2)})
    with pytest.raises(CheckpointError, match="does not have"):
        apply_changed_tensors(a, {"v": torch.zeros(2, 3)})
    with pytest.raises(CheckpointError, match="shape"):
        apply_changed_tensors(a, {"w": torch.zeros(3)})
    assert changed_tensors(a, {"w": torch.zeros(2, 3)}) == {}
    assert list(changed_tensors(a, {"w": -torch.zeros(2, 3)})) == ["w"]  # same value, other bits


def test_extracting_from_an_identical_file_is_refused(tmp_path):
    from maskgit.checkpoint import save_tensors
    from scripts.changed_tensors import main as changed_main
    save_tensors({"w": torch.ones(2)}, tmp_path / "a.safetensors")
    with pytest.raises(SystemExit, match="same tensors"):
        changed_main(["extract", str(tmp_path / "a.safetensors"), str(tmp_path / "a.safetensors"),
                      str(tmp_path / "out.safetensors")])
    assert not (tmp_path / "out.safetensors").exists()


def test_a_config_asking_for_a_huge_model_is_refused_before_it_is_built(tmp_path):
    vq, tr = small_pair()
    MaskGIT(vq, tr).save(tmp_path)
    meta = json.loads((tmp_path / "transformer.json").read_text())
    meta["config"]["dim"] = 65536  # ~100 GB of weights, beside the real small ones
    (tmp_path / "transformer.json").write_text(json.dumps(meta))
    built_on = []

    class Watched(BidirectionalTransformer):
        def __init__(self, config):
            built_on.append(torch.empty(0).device.type)
            if built_on[-1] != "meta":
                raise RuntimeError("the model was built in memory before its shapes were checked")
            super().__init__(config)

    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="transformer.safetensors does not match its config: shape mismatch") as e:
        load_checkpoint(tmp_path, "transformer", "transformer", Watched, TransformerConfig)
    assert built_on == ["meta"] and "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="does not match its config"):
        load(tmp_path)  # the public path, unwatched
    assert time.perf_counter() - start < 3


def test_the_header_check_reads_every_stored_shape(tmp_path):
    from maskgit.checkpoint import read_shapes
    vq, tr = small_pair()
    MaskGIT(vq, tr).save(tmp_path)
    shapes = read_shapes(tmp_path / "transformer.safetensors")
    assert shapes == {k: tuple(v.shape) for k, v in tr.state_dict().items()}
