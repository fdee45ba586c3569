import math

import torch

from maskgit.transformer import BidirectionalTransformer, MultiHeadSelfAttention, TransformerConfig


def reference_attention(attn, x):
    """Straight from the formula, one head at a time, no reshapes shared with the module."""
    outs = []
    q_all, k_all, v_all = attn.query(x), attn.key(x), attn.value(x)
    d = attn.head_dim
    for h in range(attn.n_heads):
        q, k, v = (t[..., h * d:(h + 1) * d] for t in (q_all, k_all, v_all))
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        outs.append(w @ v)
    return attn.proj(torch.cat(outs, dim=-1))


def test_hand_written_and_fused_attention_match_the_formula():
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=50, n_tokens=16, dim=32, n_layers=1, n_heads=4, dropout=0.1)
    attn = MultiHeadSelfAttention(cfg).eval().double()
    x = torch.randn(3, 16, 32, dtype=torch.float64)
    expected = reference_attention(attn, x)
    attn.use_fused = False
    manual = attn(x)
    attn.use_fused = True
    fused = attn(x)
    assert torch.allclose(manual, expected, atol=1e-10)
    assert torch.allclose(fused, expected, atol=1e-10)


def test_attention_is_bidirectional():
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=50, n_tokens=8, dim=16, n_layers=1, n_heads=2, dropout=0.0)
    attn = MultiHeadSelfAttention(cfg).eval()
    x = torch.randn(1, 8, 16)
    y = x.clone()
    y[0, -1] += 1.0  # changing the last token must change the first output (no causal mask)
    assert not torch.allclose(attn(x)[0, 0], attn(y)[0, 0])


def test_whole_model_same_with_either_attention_path():
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=40, n_tokens=16, dim=32, n_layers=2, n_heads=4)
    model = BidirectionalTransformer(cfg).eval()
    tokens = torch.randint(0, 41, (2, 16))
    model.set_fused_attention(True)
    a = model(tokens)
    model.set_fused_attention(False)
    b = model(tokens)
    assert a.shape == (2, 16, 40)
    assert torch.allclose(a, b, atol=1e-5)


def test_mask_token_is_not_a_codebook_id():
    cfg = TransformerConfig(vocab_size=40)
    assert cfg.mask_token_id == 40
    model = BidirectionalTransformer(TransformerConfig(vocab_size=40, n_tokens=16, dim=16, n_layers=1, n_heads=2))
    assert model.tok_emb.num_embeddings == 41 and model.head.out_features == 40
