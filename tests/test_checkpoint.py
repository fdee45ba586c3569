import json

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

    with pytest.raises(CheckpointError, match="transformer.safetensors does not match its config: shape mismatch") as e:
        load_checkpoint(tmp_path, "transformer", "transformer", Watched, TransformerConfig)
    assert built_on == ["meta"] and "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="does not match its config"):
        load(tmp_path)  # the public path, unwatched


def test_the_header_check_reads_every_stored_shape(tmp_path):
    from maskgit.checkpoint import read_shapes
    vq, tr = small_pair()
    MaskGIT(vq, tr).save(tmp_path)
    shapes = read_shapes(tmp_path / "transformer.safetensors")
    assert shapes == {k: tuple(v.shape) for k, v in tr.state_dict().items()}
