import numpy as np
import pytest
import torch

from conftest import synthetic_face
from maskgit import fid as fidlib
from maskgit.errors import MaskGITError


def test_frechet_distance_of_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(200, 8))
    mu, sigma = fidlib.gaussian_stats(feats)
    assert fidlib.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-6)


def test_frechet_distance_closed_form_for_diagonal_covariances():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    # |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2 for diagonal covariances
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert fidlib.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected)


def sqrtm_frechet_distance(mu1, s1, mu2, s2):
    # pytorch-fid's formula, with scipy's general matrix square root
    import scipy.linalg
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n_samples", [500, 40])  # full-rank and rank-deficient covariances
def test_frechet_distance_equals_the_matrix_square_root_formula(n_samples):
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(64, 64))
    a = rng.normal(size=(n_samples, 64)) @ mix
    b = rng.normal(size=(n_samples, 64)) @ (mix + 0.3 * rng.normal(size=(64, 64))) + 0.5
    stats = [*fidlib.gaussian_stats(a), *fidlib.gaussian_stats(b)]
    expected = sqrtm_frechet_distance(*stats)
    assert fidlib.frechet_distance(*stats) == pytest.approx(expected, rel=1e-6)
    assert expected > 10  # not a trivially small distance


def test_inception_input_is_299_in_minus_one_to_one():
    x = np.zeros((2, 64, 64, 3), np.uint8)
    x[1] = 255
    t = fidlib.to_inception_input(x)
    assert t.shape == (2, 3, 299, 299)
    assert t[0].max().item() == -1 and t[1].min().item() == 1


@pytest.fixture(scope="module")
def two_sets():
    rng = np.random.default_rng(0)
    a = np.stack([synthetic_face(rng) for _ in range(40)])
    b = rng.integers(0, 255, (40, 64, 64, 3)).astype(np.uint8)  # noise: nothing like a face
    return a, b


def test_features_and_fid_are_deterministic_and_discriminate(two_sets):
    a, b = two_sets
    fa = fidlib.inception_features(a[:4])
    assert fa.shape == (4, 2048) and np.isfinite(fa).all()
    assert np.array_equal(fa, fidlib.inception_features(a[:4]))
    same = fidlib.fid(a[:20], a[20:], cache_reference=False)
    different = fidlib.fid(a[:20], b[20:], cache_reference=False)
    assert different > same + 50


def test_fast_network_features_equal_the_published_network(two_sets):
    # The rebuilt network (batch norm folded, 1x1 convolutions merged, average pools moved
    # after their convolutions, channels-last) against the shipped TorchScript file as is.
    a, _ = two_sets
    with torch.no_grad():
        published = fidlib.load_inception()(fidlib.to_inception_input(a[:6])).reshape(-1, 2048).double().numpy()
    fast = fidlib.inception_features(a[:6])
    assert np.abs(fast - published).max() < 2e-5 * np.abs(published).max()
    assert np.linalg.norm(fast - published) < 1e-5 * np.linalg.norm(published)


def test_fast_network_rejects_images_without_three_channels():
    with pytest.raises(ValueError, match="3-channel"):
        fidlib.load_fid_network()(torch.zeros(1, 1, 299, 299))


def test_reduced_precision_features_stay_close_to_fp32(two_sets):
    a, _ = two_sets
    exact = fidlib.inception_features(a[:8], precision="fp32")
    errors = {}
    for precision in ("mixed", "bf16"):
        approx = fidlib.inception_features(a[:8], precision=precision)
        errors[precision] = np.linalg.norm(approx - exact) / np.linalg.norm(exact)
        assert errors[precision] < 0.05, errors  # 1-2 %; reports use fp32
    # mixed keeps the stem in fp32, where bf16 rounding costs most: closer than whole-network bf16
    assert errors["mixed"] < errors["bf16"], errors


def test_reference_stats_are_cached(two_sets, tmp_path, monkeypatch):
    a, _ = two_sets
    monkeypatch.setenv("MASKGIT_CACHE", str(tmp_path))
    mu, sigma = fidlib.reference_stats(a[:8])
    files = list(tmp_path.glob("fid-stats-*.npz"))
    assert len(files) == 1
    mu2, sigma2 = fidlib.reference_stats(a[:8])
    assert np.array_equal(mu, mu2) and np.array_equal(sigma, sigma2)


def test_bf16_convolution_keeps_a_large_folded_bias():
    # A folded batch norm can leave a bias that the convolution's sum nearly cancels; in
    # bf16 the rounding of that bias alone is then a large error of the small output.
    from maskgit.inception import FoldedConv
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(4, 64, 8, 8, generator=g) + 1).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(16, 64, 3, 3, generator=g) * 0.01 + 0.02  # sums around 30
    x_r, w_r = x.bfloat16().float(), weight.bfloat16().float()
    bias = -torch.nn.functional.conv2d(x_r, w_r).mean(dim=(0, 2, 3)) + 0.3  # outputs around 0.3
    exact = torch.nn.functional.conv2d(x_r, w_r, bias)  # fp32 maths on the bf16-rounded operands
    layer = FoldedConv(weight, bias)
    assert torch.equal(layer.conv(x), torch.nn.functional.conv2d(x, weight, bias))  # fp32: untouched
    with torch.autocast("cpu", dtype=torch.bfloat16):
        kept = layer.conv(x).float()
        naive = torch.nn.functional.conv2d(x, weight, bias).float()

    def rms(t):
        return t.pow(2).mean().sqrt().item()
    assert rms(kept - exact) < rms(naive - exact) / 3
    assert rms(kept - exact) < 2 * 2**-8 * rms(exact)  # about the output's own bf16 rounding


def test_blocks_stay_in_bf16_under_autocast():
    # No fp32 term (such as a separately added pooled-branch bias) may promote a block's
    # output back to fp32 under autocast: the next block would then read twice the bytes.
    layers = fidlib.load_fid_network().layers
    x = torch.rand(1, 288, 35, 35).bfloat16().contiguous(memory_format=torch.channels_last)  # a block's output
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for block in (layers[9], layers[10]):  # an average-pooled block, a max-pooled reduction
            assert block(x).dtype == torch.bfloat16


def test_one_image_has_no_covariance_and_is_refused():
    with pytest.raises(MaskGITError, match="2 or more images"):
        fidlib.gaussian_stats(np.ones((1, 2048)))
