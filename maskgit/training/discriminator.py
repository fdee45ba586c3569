"""PatchGAN discriminator and the VQGAN paper's adaptive adversarial weight."""
import os

import torch
from torch import nn
import torch.nn.functional as F

from ..checkpoint import FORMAT_VERSION, check_tensors_match, read_json, read_tensors, save_json, save_tensors
from ..errors import CheckpointError


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
        self.channels = channels  # the size a saved discriminator is checked against

    def forward(self, x, features=False):
        """Logits; with `features`, also the activation after each hidden layer (the
        discriminator's own view of the face, which feature matching compares)."""
        if not features:
            return self.net(x)
        hidden = []
        for layer in self.net:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                hidden.append(x)
        return x, hidden


# The discriminator a decoder was tuned against travels beside it (DIR/vqgan_disc.*), so a
# later run can go on from DIR without a fresh, untrained one: the decoder's adversarial
# tuning then survives the loss of its run folder.
DISC_NAME = "vqgan_disc"


def save_discriminator(disc, folder, info):
    """`info` should name the decoder it was trained against ("vqgan": that file's digest)."""
    save_tensors(disc.state_dict(), os.path.join(folder, f"{DISC_NAME}.safetensors"))  # fp32: 2.7 MB at 64 channels
    save_json({"kind": "discriminator", "format_version": FORMAT_VERSION, "config": {"channels": disc.channels},
               "info": info}, os.path.join(folder, f"{DISC_NAME}.json"))


def load_discriminator(disc, folder):
    """Load FOLDER's saved discriminator into `disc` and return its info, or None if FOLDER has
    none. A corrupt file or another size is a CheckpointError and leaves `disc` as it was."""
    path = os.path.join(folder, f"{DISC_NAME}.json")
    if not os.path.exists(path):
        return None
    meta = read_json(path)
    if not (isinstance(meta, dict) and meta.get("kind") == "discriminator" and isinstance(meta.get("config"), dict)):
        raise CheckpointError(f"{path} is not a discriminator config")
    channels = meta["config"].get("channels")
    if channels != disc.channels:
        raise CheckpointError(f"{path}: a discriminator with {channels} channels; this run builds "
                              f"{disc.channels} (--disc-channels)")
    tensors = read_tensors(os.path.join(folder, f"{DISC_NAME}.safetensors"))
    check_tensors_match(disc.state_dict(), tensors, f"{folder}/{DISC_NAME}.safetensors")
    info = meta.get("info", {})
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: its info is not a JSON object")
    disc.load_state_dict(tensors)
    return info


def hinge_d_loss(real_logits, fake_logits):
    return 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())


def feature_matching_loss(real_features, fake_features):
    """pix2pixHD's feature matching on paired faces: the mean L1 distance between the
    discriminator's hidden activations of a face and of its decoding, averaged over layers. A
    perceptual distance learnt from the task, since no pretrained network is at hand here; the
    real side is a fixed target."""
    return sum(F.l1_loss(fake.float(), real.detach().float())
               for real, fake in zip(real_features, fake_features)) / len(real_features)


def adaptive_weights(rec_loss, losses, last_layer_weight, max_weight=1e4):
    """For each of `losses` (the adversarial term, feature matching): ||grad rec|| / ||grad loss||
    at the decoder's last layer, so none dominates the reconstruction (the VQGAN paper's weight).
    The reconstruction gradient is taken once for all of them."""
    g_rec = torch.autograd.grad(rec_loss, last_layer_weight, retain_graph=True)[0].norm()
    return [(g_rec / (torch.autograd.grad(loss, last_layer_weight, retain_graph=True)[0].norm() + 1e-4))
            .clamp(0, max_weight).detach() for loss in losses]


class LeCam:
    """LeCam regulariser (Tseng et al. 2021): pull the discriminator's outputs on real faces
    toward the running mean of its outputs on fakes, and vice versa, so it cannot push the two
    apart without bound on a small data set."""

    def __init__(self, decay=0.99):
        self.decay = decay
        self.real_mean = 0.0  # become detached tensors: no device sync per step on a GPU
        self.fake_mean = 0.0

    def __call__(self, real_logits, fake_logits):
        self.real_mean = self.decay * self.real_mean + (1 - self.decay) * real_logits.detach().mean()
        self.fake_mean = self.decay * self.fake_mean + (1 - self.decay) * fake_logits.detach().mean()
        return ((real_logits - self.fake_mean).pow(2).mean()
                + (fake_logits - self.real_mean).pow(2).mean())

    def state(self):
        return {"real_mean": float(self.real_mean), "fake_mean": float(self.fake_mean)}

    def load(self, state):
        self.real_mean, self.fake_mean = state["real_mean"], state["fake_mean"]
