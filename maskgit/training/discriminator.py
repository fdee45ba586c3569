"""The PatchGAN discriminator, and how it travels beside the decoder it was trained against."""
import os

from torch import nn

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
