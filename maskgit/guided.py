"""The mask-aware decoder's guide: a small U-Net that reads the known pixels.

The tokenizer's decoder redraws the whole face from 16x16 tokens, so even the known
three quarters of an inpainted face lose detail (the tokenizer's reconstruction is the
floor of the decoded image's quality). The guide takes the decoded image, the known pixels
(the hole zeroed) and the hole mask, and adds a correction to the decoded image: known
regions can pass through, and the hole is drawn to agree with the pixels around it (the
guided upsampler of ICT, Wan et al. 2021; PUT's guided decoder, Liu et al. 2022).

Its last convolution starts at zero, so an untrained guide returns the decoded image
exactly: the tokens-only decoder is where training starts.
"""
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .tokenizer import ResBlock, norm_layer


@dataclass
class GuideConfig:
    image_size: int = 64
    channels: tuple = (32, 64, 128)  # one entry per resolution: 64, 32, 16 pixels
    bottleneck_blocks: int = 2

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if len(self.channels) < 2 or any(c < 4 or c % 4 for c in self.channels):
            raise ValueError(f"channels must be at least two multiples of 4, not {self.channels}")
        if self.image_size % 2 ** (len(self.channels) - 1):
            raise ValueError("image_size must be divisible by 2 per extra level")

    def to_dict(self):
        return asdict(self)


def guide_input(decoded, images, holes):
    """(decoded, known pixels with the hole zeroed, hole) stacked: (B, 7, H, W).
    decoded, images: (B, 3, H, W) in [-1, 1]; holes: (B, H, W) bool."""
    hole = holes[:, None].to(decoded.dtype)
    return torch.cat([decoded, images * (1 - hole), hole], 1)


class Guide(nn.Module):
    def __init__(self, cfg: GuideConfig = None):
        super().__init__()
        self.config = cfg = cfg or GuideConfig()
        ch = cfg.channels
        self.stem = nn.Conv2d(7, ch[0], 3, padding=1)
        self.down = nn.ModuleList()  # one ResBlock per level, then a strided convolution
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            self.down.append(nn.ModuleList([ResBlock(c_in, c_in), nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)]))
        self.middle = nn.Sequential(*[ResBlock(ch[-1], ch[-1]) for _ in range(cfg.bottleneck_blocks)])
        self.up = nn.ModuleList()  # upsample, then a ResBlock over the level's skip features too
        for c_in, c_out in zip(reversed(ch[1:]), reversed(ch[:-1])):
            self.up.append(nn.ModuleList([
                nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1)),
                ResBlock(2 * c_out, c_out)]))
        self.head = nn.Sequential(norm_layer(ch[0]), nn.SiLU())
        self.conv_out = nn.Conv2d(ch[0], 3, 3, padding=1)  # drives the adaptive GAN weight
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, decoded, images, holes):
        """The corrected image (B, 3, H, W), not clamped (training needs the gradient)."""
        h = self.stem(guide_input(decoded, images, holes))
        skips = []
        for block, downsample in self.down:
            h = block(h)
            skips.append(h)
            h = downsample(h)
        h = self.middle(h)
        for upsample, block in self.up:
            h = block(torch.cat([upsample(h), skips.pop()], 1))
        return decoded + self.conv_out(self.head(h)).to(decoded.dtype)
