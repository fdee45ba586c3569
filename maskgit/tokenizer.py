"""The image tokenizer: a convolutional autoencoder with an FSQ bottleneck (no VQ codebook, no GAN
inside: the checkpoint files keep the name `vqgan.*` of the VQGAN recipe it follows).

64x64 RGB in [-1, 1]  <->  16x16 grid of token ids in [0, codebook_size).
"""
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .fsq import FSQ


@dataclass
class TokenizerConfig:
    image_size: int = 64
    channels: tuple = (64, 128, 192)  # one entry per resolution; each after the first halves it
    res_blocks: int = 2
    fsq_levels: tuple = (8, 5, 5, 5)

    def __post_init__(self):
        self.channels = tuple(self.channels)
        self.fsq_levels = tuple(self.fsq_levels)

    @property
    def downsample(self):
        return 2 ** (len(self.channels) - 1)

    @property
    def grid_size(self):
        return self.image_size // self.downsample

    def to_dict(self):
        return asdict(self)


def norm_layer(c):
    return nn.GroupNorm(min(32, c // 4), c, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.body = nn.Sequential(
            norm_layer(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1),
            norm_layer(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1),
        )
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x):
        return self.skip(x) + self.body(x)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = cfg.channels
        layers = [nn.Conv2d(3, ch[0], 3, padding=1)]
        c = ch[0]
        for i, c_level in enumerate(ch):
            for _ in range(cfg.res_blocks):
                layers.append(ResBlock(c, c_level))
                c = c_level
            if i < len(ch) - 1:
                layers.append(nn.Conv2d(c, c, 4, stride=2, padding=1))
        layers += [ResBlock(c, c), norm_layer(c), nn.SiLU(), nn.Conv2d(c, len(cfg.fsq_levels), 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = tuple(reversed(cfg.channels))
        c = ch[0]
        layers = [nn.Conv2d(len(cfg.fsq_levels), c, 3, padding=1), ResBlock(c, c)]
        for i, c_level in enumerate(ch):
            for _ in range(cfg.res_blocks):
                layers.append(ResBlock(c, c_level))
                c = c_level
            if i < len(ch) - 1:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]
        layers += [norm_layer(c), nn.SiLU()]
        self.net = nn.Sequential(*layers)
        self.conv_out = nn.Conv2d(c, 3, 3, padding=1)  # its weight drives the adaptive GAN weight

    def forward(self, z):
        return self.conv_out(self.net(z))


class FSQAutoencoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig = None):
        super().__init__()
        self.config = cfg or TokenizerConfig()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.quantizer = FSQ(self.config.fsq_levels)

    @property
    def codebook_size(self):
        return self.quantizer.codebook_size

    def quantize(self, x):
        """Images (B, 3, H, W) in [-1, 1] -> quantized latents (B, d, h, w)."""
        z = self.encoder(x).float()
        return self.quantizer.quantize(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def forward(self, x):
        return self.decoder(self.quantize(x))

    @torch.no_grad()
    def encode(self, x):
        """Images (B, 3, H, W) in [-1, 1] -> token ids (B, h, w)."""
        codes = self.quantize(x).permute(0, 2, 3, 1)
        return self.quantizer.codes_to_indices(codes)

    @torch.no_grad()
    def decode(self, tokens):
        """Token ids (B, h, w) -> images (B, 3, H, W), clamped to [-1, 1]."""
        codes = self.quantizer.indices_to_codes(tokens).permute(0, 3, 1, 2)
        return self.decoder(codes.to(self.decoder.conv_out.weight.dtype)).float().clamp(-1, 1)


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())
