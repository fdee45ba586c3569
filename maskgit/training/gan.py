"""The adversarial objective of decoder training, in one place (as taming-transformers keeps
it): the discriminator and its optimizer, what it is shown (DiffAugment), LeCam, and the
generator's adversarial and feature-matching terms with their adaptive weights.

The adaptive weight (the VQGAN paper's) scales each term so that its gradient at the
generator's last layer is a fixed share of the reconstruction gradient there, whatever the
terms' raw scales.
"""
from dataclasses import dataclass

import torch

from .augment import diff_augment
from .losses import LeCam, adaptive_weights, feature_matching_loss, hinge_d_loss


@dataclass
class GANSettings:
    disc_weight: float = 0.1        # share of the reconstruction gradient for the adversarial term
    feature_matching: float = 0.5   # share for feature matching (0: off)
    lecam_weight: float = 0.0
    augment: tuple = ()              # DiffAugment policy (augment.parse_policy)
    disc_lr: float = 2e-4

    def record(self):
        """What a decoder was tuned against (kept in states and exported infos)."""
        return {"disc_weight": self.disc_weight, "disc_augment": ",".join(self.augment),
                "lecam_weight": self.lecam_weight, "feature_matching": self.feature_matching}


class GANObjective:
    def __init__(self, disc, settings: GANSettings, average_gradients=lambda params: None):
        self.disc, self.settings = disc, settings
        self.opt = torch.optim.Adam(disc.parameters(), lr=settings.disc_lr, betas=(0.5, 0.9))
        self.lecam = LeCam()
        self.average_gradients = average_gradients

    def seen(self, images):
        return diff_augment(images, self.settings.augment) if self.settings.augment else images

    def generator_loss(self, real, fake, rec_loss, last_layer):
        """The adversarial (+ feature-matching) loss to add to `rec_loss`, and its stats."""
        s = self.settings
        stats = {}
        if s.feature_matching > 0:  # unaugmented: the pairs must line up pixel for pixel
            with torch.no_grad():
                _, real_features = self.disc(real, features=True)
            plain_logits, fake_features = self.disc(fake, features=True)
            fm_loss = feature_matching_loss(real_features, fake_features)
            g_loss = -(self.disc(self.seen(fake)) if s.augment else plain_logits).float().mean()
            weight, fm_weight = adaptive_weights(rec_loss, [g_loss, fm_loss], last_layer)
            stats.update(fm=fm_loss.item(), fm_weight=fm_weight.item())
            extra = s.disc_weight * weight * g_loss + s.feature_matching * fm_weight * fm_loss
        else:
            g_loss = -self.disc(self.seen(fake)).float().mean()
            (weight,) = adaptive_weights(rec_loss, [g_loss], last_layer)
            extra = s.disc_weight * weight * g_loss
        stats.update(g=g_loss.item(), gan_weight=weight.item())
        return extra, stats

    def discriminator_step(self, real, fake):
        """One optimizer step of the discriminator on real and (detached) fake images."""
        real_logits = self.disc(self.seen(real)).float()
        fake_logits = self.disc(self.seen(fake.detach())).float()
        d_hinge = hinge_d_loss(real_logits, fake_logits)
        d_loss = d_hinge
        if self.settings.lecam_weight > 0:
            d_loss = d_hinge + self.settings.lecam_weight * self.lecam(real_logits, fake_logits)
        self.opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.average_gradients(self.disc.parameters())
        self.opt.step()
        return {"d_loss": d_hinge.item(), "d_real": real_logits.mean().item(),
                "d_fake": fake_logits.mean().item()}

    def state(self):
        return {"disc": self.disc.state_dict(), "opt_d": self.opt.state_dict()}, {"lecam": self.lecam.state()}

    def load(self, tensors, info):
        self.disc.load_state_dict(tensors["disc"])
        self.opt.load_state_dict(tensors["opt_d"])
        if "lecam" in info:
            self.lecam.load(info["lecam"])
