"""PatchGAN discriminator and the VQGAN paper's adaptive adversarial weight."""
import torch
from torch import nn
import torch.nn.functional as F


class PatchDiscriminator(nn.Module):
    """64x64 image -> 14x14 real/fake logits, each seeing a ~34 px patch."""

    def __init__(self, channels=64):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.GroupNorm(16, 2 * c), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, 1, 1), nn.GroupNorm(16, 4 * c), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * c, 1, 4, 1, 1),
        )

    def forward(self, x):
        return self.net(x)


def hinge_d_loss(real_logits, fake_logits):
    return 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())


def adaptive_gan_weight(rec_loss, gan_loss, last_layer_weight, max_weight=1e4):
    """||grad rec|| / ||grad gan|| at the decoder's last layer, so neither term dominates."""
    g_rec = torch.autograd.grad(rec_loss, last_layer_weight, retain_graph=True)[0]
    g_gan = torch.autograd.grad(gan_loss, last_layer_weight, retain_graph=True)[0]
    return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0, max_weight).detach()
