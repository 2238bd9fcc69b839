"""Feature maximization (chapter 6): it raises its objective and stays in range."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import course_utils as cu
from course_utils.explain.featviz import gaussian_blur, maximize
from course_utils.models.cifar import CifarLeNet


def gratings(n: int, size: int = 16, seed: int = 0):
    """Four classes of oriented stripes (0, 45, 90, 135 degrees) with random phase and noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    angle = labels.float() * math.pi / 4
    phase = torch.rand(n, generator=g) * 2 * math.pi
    wave = torch.cos(0.9 * (xx * angle.cos().view(-1, 1, 1) + yy * angle.sin().view(-1, 1, 1))
                     + phase.view(-1, 1, 1))
    images = 0.5 + 0.35 * wave + 0.1 * torch.randn(n, size, size, generator=g)
    return images.clamp(0, 1).unsqueeze(1), labels


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    x, y = gratings(256)
    net = CifarLeNet(num_classes=4, size=16)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(4):
        for i in range(0, 256, 32):
            loss = F.cross_entropy(net(x[i:i + 32]), y[i:i + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    tx, ty = gratings(128, seed=1)
    net.zero_grad(set_to_none=True)
    net.eval()
    with torch.no_grad():
        assert (net(tx).argmax(1) == ty).float().mean() > 0.9  # it really is trained
    return net


@pytest.fixture(scope="module")
def fashion_net(fashion_small):
    train, _ = fashion_small
    net = CifarLeNet()
    cu.train.fit(net, train, None, epochs=2, optimizer="adam", lr=1e-3, batch_size=50,
                 progress=False, device="cpu")
    return net.eval(), float(train.float().mean())


def test_objective_rises_tenfold_on_a_trained_model(fashion_net):
    net, mean = fashion_net
    res = maximize(net, range(64), layer="act2", steps=60, lr=0.1, l2=0.01, jitter=1,
                   blur_sigma=0.5, init=mean)   # start: the average pixel value (Simonyan et al.)
    assert res.images.shape == (64, 1, 28, 28) and res.objective.shape == (61, 64)
    assert res.images.min() >= 0 and res.images.max() <= 1
    alive = res.initial > 0                     # a unit silent on the start image gets no gradient
    assert alive.sum() >= 48
    ratio = res.final[alive] / res.initial[alive]
    assert ratio.median() >= 10 and ratio.min() >= 2


@pytest.mark.parametrize("layer,units", [("act1", [0, 5, 9]), ("act2", [1, 2, 30]),
                                         (None, [0, 1, 2, 3])])
def test_objective_rises_and_stays_in_range(trained, layer, units):
    res = maximize(trained, units, layer=layer, shape=(1, 16, 16), steps=30, lr=0.05,
                   l2=0.01, jitter=1, blur_sigma=0.5, blur_every=4)
    assert res.images.shape == (len(units), 1, 16, 16)
    assert res.objective.shape == (31, len(units))
    assert res.images.min() >= 0 and res.images.max() <= 1
    alive = res.initial > 0 if layer else torch.ones(len(units), dtype=torch.bool)
    assert (res.final[alive] > res.initial[alive]).all()


def test_each_image_serves_its_own_unit(trained):
    res = maximize(trained, [0, 1, 2, 3], steps=40, shape=(1, 16, 16))
    with torch.no_grad():
        assert torch.equal(trained(res.images).argmax(1), torch.arange(4))


def test_value_range_and_determinism(trained):
    a = maximize(trained, [3], layer="act2", steps=20, value_range=(-1.0, 1.0), jitter=2, seed=4,
                 shape=(1, 16, 16))
    b = maximize(trained, [3], layer="act2", steps=20, value_range=(-1.0, 1.0), jitter=2, seed=4,
                 shape=(1, 16, 16))
    assert a.images.min() >= -1 and a.images.max() <= 1
    assert torch.equal(a.images, b.images)


def test_blur_keeps_constants_and_smooths():
    flat = torch.full((1, 1, 9, 9), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.0), flat)
    noise = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert gaussian_blur(noise, 1.0).std() < noise.std() / 2


def hooks(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


def test_mode_hooks_and_grads_restored_also_after_an_error(trained):
    trained.train()
    before = hooks(trained)
    maximize(trained, [0], layer="act1", steps=2, shape=(1, 16, 16))
    assert trained.training and hooks(trained) == before
    with pytest.raises(ValueError, match="has 32 channels"):
        maximize(trained, [40], layer="act1", steps=2, shape=(1, 16, 16))
    assert trained.training and hooks(trained) == before
    assert all(p.requires_grad and p.grad is None for p in trained.parameters())
    trained.eval()


def test_bad_arguments(trained):
    with pytest.raises(ValueError, match="no layer named"):
        maximize(trained, [0], layer="conv7")
    with pytest.raises(ValueError, match="value_range"):
        maximize(trained, [0], value_range=(1, 0))
    with pytest.raises(ValueError, match="non-negative"):
        maximize(trained, [-1], layer="act1")
