"""The FID network (InceptionV3 up to pool3) as an eager module, arranged for CPU speed.

Built from the weights of the TorchScript file `fid.py` loads (the standard TF-ported
network); the maths is the same, the arrangement is faster:

- each convolution's batch norm (no scale, eps 1e-3) is folded into its weights and bias;
- in each Inception block, the 1x1 convolutions that read the block's input run as one
  wider convolution (one large matrix product instead of three or four small ones);
- where a 3x3 average pool (padding excluded) feeds a 1x1 convolution, the pool runs after
  the convolution instead (both are linear, so the result is the same) over its fewer
  output channels.

Features agree with the TorchScript network's to float rounding (tests/test_fid.py).
The block layout below mirrors the TorchScript module names: conv, tower, tower_1, ...
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3  # the TorchScript layers' batch-norm epsilon


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def fold_batch_norm(layer):
    """A scripted Conv2dLayer (conv, batch norm without scale, ReLU) -> (weight, bias).
    Folded in float64 so the only rounding is the final cast to float32."""
    scale = torch.rsqrt(layer.var.double() + BN_EPS)
    weight = layer.weight.double() * scale[:, None, None, None]
    bias = layer.beta.double() - layer.mean.double() * scale
    return weight.float(), bias.float()


class FoldedConv(nn.Module):
    """A convolution with a folded batch-norm bias that survives bf16 autocast.

    A folded bias is large where the batch norm shifted a lot, and the convolution's sum
    nearly cancels it: in bf16 its rounding error (up to 1/256 of it) is then a large part of
    the output. Measured: rounding its biases alone shrank two branches of the last block by
    0.6-0.7 %; adding the lost part back moved whole-network bf16 FID on blurred val faces
    from -0.31 to -0.11 of fp32. So a bf16 convolution adds back, in place,
    the part of the bias that bf16 rounding dropped (what the unfolded network got for free
    by running batch norm in fp32). fp32 is untouched."""

    def __init__(self, weight, bias):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.register_buffer("bias_residual", (bias - bias.bfloat16().float()).view(1, -1, 1, 1))

    def conv(self, x, stride=1, padding=0):
        y = F.conv2d(x, self.weight, self.bias, stride, padding)
        if y.dtype == torch.bfloat16:
            y += self.bias_residual.to(y.dtype)
        return y


class ConvReLU(FoldedConv):
    def __init__(self, layer):
        super().__init__(*fold_batch_norm(layer))
        self.stride, self.padding = _pair(layer.stride), _pair(layer.padding)

    def forward(self, x):
        return F.relu(self.conv(x, self.stride, self.padding), inplace=True)


def avg_pool3(x):
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def max_pool3_s2(x):
    return F.max_pool2d(x, 3, 2)


class Heads(FoldedConv):
    """A block's 1x1 convolutions over its input, run as one convolution and split.

    `pooled`: index of the head that the original network average-pools before its
    convolution; here its pool comes after. The bias can stay in the convolution: the pool
    excludes padding, so its weights sum to one and it leaves a constant unchanged."""

    def __init__(self, layers, pooled=None):
        weights, biases = zip(*(fold_batch_norm(layer) for layer in layers))
        super().__init__(torch.cat(weights), torch.cat(biases))
        self.sizes = [w.shape[0] for w in weights]
        self.pooled = pooled

    def forward(self, x):
        # Everything stays in the convolution's dtype: under bf16 autocast no fp32 term
        # promotes a branch (and with it the block's concatenation) back to fp32.
        parts = self.conv(x).split(self.sizes, dim=1)
        return [F.relu(avg_pool3(part) if i == self.pooled else part) for i, part in enumerate(parts)]


def chain(tower, names):
    return nn.Sequential(*(ConvReLU(getattr(tower, name)) for name in names))


class BlockA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 (InceptionA, InceptionC
    with 1x7/7x1 towers share this shape)."""

    def __init__(self, block, tower_convs, tower_1_convs):
        super().__init__()
        self.heads = Heads([block.conv, block.tower.conv, block.tower_1.conv, block.tower_2.conv], pooled=3)
        self.tower = chain(block.tower, tower_convs)
        self.tower_1 = chain(block.tower_1, tower_1_convs)

    def forward(self, x):
        h0, h1, h2, h3 = self.heads(x)
        return torch.cat([h0, self.tower(h1), self.tower_1(h2), h3], dim=1)


class BlockB(nn.Module):
    """Grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2 (InceptionB)."""

    def __init__(self, block):
        super().__init__()
        self.conv = ConvReLU(block.conv)
        self.tower = chain(block.tower, ["conv", "conv_1", "conv_2"])

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), max_pool3_s2(x)], dim=1)


class BlockD(nn.Module):
    """Grid reduction 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2 (InceptionD)."""

    def __init__(self, block):
        super().__init__()
        self.heads = Heads([block.tower.conv, block.tower_1.conv])
        self.tower = chain(block.tower, ["conv_1"])
        self.tower_1 = chain(block.tower_1, ["conv_1", "conv_2", "conv_3"])

    def forward(self, x):
        h0, h1 = self.heads(x)
        return torch.cat([self.tower(h0), self.tower_1(h1), max_pool3_s2(x)], dim=1)


class BlockE(nn.Module):
    """8x8 block with split 1x3/3x1 outputs (InceptionE). The first one average-pools its
    last branch (folded into the heads); the last one max-pools it (kept in front)."""

    def __init__(self, block, avg_pooled):
        super().__init__()
        heads = [block.conv, block.tower_conv, block.tower_1_conv]
        self.avg_pooled = avg_pooled
        if avg_pooled:
            heads.append(block.tower_2_conv)
        else:
            self.tower_2_conv = ConvReLU(block.tower_2_conv)
        self.heads = Heads(heads, pooled=3 if avg_pooled else None)
        self.tower_mixed_conv = ConvReLU(block.tower_mixed_conv)
        self.tower_mixed_conv_1 = ConvReLU(block.tower_mixed_conv_1)
        self.tower_1_conv_1 = ConvReLU(block.tower_1_conv_1)
        self.tower_1_mixed_conv = ConvReLU(block.tower_1_mixed_conv)
        self.tower_1_mixed_conv_1 = ConvReLU(block.tower_1_mixed_conv_1)

    def forward(self, x):
        heads = self.heads(x)
        if self.avg_pooled:
            conv, a, b, pooled = heads
        else:
            (conv, a, b), pooled = heads, self.tower_2_conv(F.max_pool2d(x, 3, 1, 1))
        b = self.tower_1_conv_1(b)
        return torch.cat([conv, self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b), pooled], dim=1)


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class InceptionPool3(nn.Module):
    """(B, 3, 299, 299) in [-1, 1] -> (B, 2048) pool3 features.

    `layers` has the TorchScript network's 19 top-level stages in the same order, so a
    caller can run a prefix or suffix of them in another precision."""

    def __init__(self, scripted):
        super().__init__()
        net = scripted.net.layers
        c7 = (["conv", "conv_1", "conv_2"], ["conv_1", "conv_2", "conv_3", "conv_4"])
        self.layers = nn.ModuleList([
            ConvReLU(net.conv), ConvReLU(net.conv_1), ConvReLU(net.conv_2), Lambda(max_pool3_s2),
            ConvReLU(net.conv_3), ConvReLU(net.conv_4), Lambda(max_pool3_s2),
            *(BlockA(getattr(net, name), ["conv_1"], ["conv_1", "conv_2"])
              for name in ("mixed", "mixed_1", "mixed_2")),
            BlockB(net.mixed_3),
            *(BlockA(getattr(net, name), c7[0][1:], c7[1]) for name in ("mixed_4", "mixed_5", "mixed_6", "mixed_7")),
            BlockD(net.mixed_8),
            BlockE(net.mixed_9, avg_pooled=True), BlockE(net.mixed_10, avg_pooled=False),
            Lambda(lambda x: F.avg_pool2d(x, 8)),
        ])

    def forward(self, x):
        if x.shape[1] != 3:
            raise ValueError(f"InceptionPool3 expects 3-channel images, got {x.shape[1]}")
        for layer in self.layers:
            x = layer(x)
        return x.reshape(-1, 2048)
