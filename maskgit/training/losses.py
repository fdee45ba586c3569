"""The losses of decoder training: reconstruction, PSNR, the hinge loss, feature matching,
the adaptive weight and LeCam. training/gan.py puts the adversarial ones together."""
import torch
import torch.nn.functional as F


def reconstruction_loss(x, y):
    """L1 + L2."""
    return F.l1_loss(x, y) + F.mse_loss(x, y)


def psnr(x, y):
    """Images in [-1, 1]; mean PSNR in dB over the batch."""
    mse = ((x - y) / 2).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1 / mse)).mean().item()


def region_error(out, x, region):
    """Mean L1 + L2 over the pixels of `region` (B, H, W)."""
    w = region[:, None].to(out.dtype)
    err = (out - x) * w
    return (err.abs() + err.pow(2)).sum() / (3 * w.sum()).clamp_min(1)


def region_psnr(out, x, region):
    """PSNR in dB of [-1, 1] images over the pixels of `region`, pooled over the batch."""
    w = region[:, None].float()
    mse = (((out.clamp(-1, 1) - x) / 2) ** 2 * w).sum() / (3 * w.sum()).clamp_min(1)
    return (10 * torch.log10(1 / mse.clamp_min(1e-12))).item()


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
