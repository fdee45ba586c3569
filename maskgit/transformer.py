"""Bidirectional transformer for masked visual token modelling (nanoGPT-style, one file).

Inputs are token ids in [0, vocab_size] where vocab_size itself is the [MASK] id (never a
codebook id); outputs are logits over the vocab_size codebook ids for every position.
"""
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class TransformerConfig:
    vocab_size: int = 1000  # codebook ids; the mask token is vocab_size
    n_tokens: int = 256     # 16 x 16 grid
    dim: int = 384
    n_layers: int = 12
    n_heads: int = 6
    mlp_ratio: int = 4
    dropout: float = 0.1

    @property
    def mask_token_id(self):
        return self.vocab_size

    def to_dict(self):
        return asdict(self)


class MultiHeadSelfAttention(nn.Module):
    """Every token attends to every token (no causal mask)."""

    def __init__(self, cfg):
        super().__init__()
        assert cfg.dim % cfg.n_heads == 0, "dim must be divisible by n_heads"
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.dim // cfg.n_heads
        self.query = nn.Linear(cfg.dim, cfg.dim)
        self.key = nn.Linear(cfg.dim, cfg.dim)
        self.value = nn.Linear(cfg.dim, cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.attn_dropout = nn.Dropout(cfg.dropout)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        # The fused kernel computes the same maths faster (tests check the equality).
        self.use_fused = True

    def _split_heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = (self._split_heads(layer(x)) for layer in (self.query, self.key, self.value))
        if self.use_fused:
            p = self.attn_dropout.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        else:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
            weights = self.attn_dropout(scores.softmax(dim=-1))
            out = weights @ v
        out = out.transpose(1, 2).reshape(b, t, c)
        return self.resid_dropout(self.proj(out))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hidden = cfg.mlp_ratio * cfg.dim
        self.fc = nn.Linear(cfg.dim, hidden)
        self.out = nn.Linear(hidden, cfg.dim)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.out(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.dim)
        self.attn = MultiHeadSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.dim)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class BidirectionalTransformer(nn.Module):
    def __init__(self, cfg: TransformerConfig = None):
        super().__init__()
        self.config = cfg = cfg or TransformerConfig()
        self.tok_emb = nn.Embedding(cfg.vocab_size + 1, cfg.dim)
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.n_tokens, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size)
        self.apply(self._init_weights)
        nn.init.normal_(self.pos_emb, std=0.02)
        for block in self.blocks:  # GPT-2 scaling of residual projections
            for w in (block.attn.proj.weight, block.mlp.out.weight):
                nn.init.normal_(w, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def set_fused_attention(self, enabled):
        for block in self.blocks:
            block.attn.use_fused = enabled

    def forward(self, tokens):
        """tokens: (B, n_tokens) ids, mask = vocab_size  ->  logits (B, n_tokens, vocab_size)."""
        x = self.drop(self.tok_emb(tokens) + self.pos_emb[:, : tokens.shape[1]])
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def flops_per_forward(self, n_tokens=None):
        """Multiply-adds x 2 of one forward pass over one sequence (matmuls only)."""
        cfg = self.config
        t = n_tokens or cfg.n_tokens
        per_layer = 2 * t * (4 * cfg.dim * cfg.dim + 2 * cfg.mlp_ratio * cfg.dim * cfg.dim)
        attention = 2 * 2 * t * t * cfg.dim
        head = 2 * t * cfg.dim * cfg.vocab_size
        return cfg.n_layers * (per_layer + attention) + head
