"""Integrated Gradients (chapter 9) against captum, and its completeness property."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_utils.explain.ig import IntegratedGradients, make_baseline, path_scores, quadrature


def small_net(inplace: bool = False) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(inplace), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 4))


def inputs(n=3, dtype=torch.float64):
    return torch.rand(n, 1, 12, 12, generator=torch.Generator().manual_seed(3), dtype=dtype)


@pytest.mark.parametrize("baseline", ["zeros", "random"])
def test_matches_captum_gauss_legendre(baseline):
    from captum.attr import IntegratedGradients as Ref

    net = small_net().double()
    x, t = inputs(), torch.tensor([0, 2, 3])
    b = torch.zeros_like(x) if baseline == "zeros" else torch.rand_like(x)
    ours, gap = IntegratedGradients(net)(x, t, baseline=b, n_steps=20, return_gap=True)
    ref, delta = Ref(net).attribute(x, b, target=t, n_steps=20, method="gausslegendre",
                                    return_convergence_delta=True)
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0)
    assert torch.allclose(gap, delta, atol=1e-6, rtol=0)


@pytest.mark.parametrize("method", ["riemann_left", "riemann_right", "riemann_middle"])
def test_riemann_rules_match_captum(method):
    from captum.attr import IntegratedGradients as Ref

    net = small_net().double()
    x = inputs()
    ours = IntegratedGradients(net)(x, 1, baseline=0.0, n_steps=16, method=method)
    ref = Ref(net).attribute(x, torch.zeros_like(x), target=1, n_steps=16, method=method)
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("n", [2, 5, 16])
def test_captum_trapezoid_is_ours_times_n_minus_1_over_n(n):
    """captum weights its n trapezoid points 1/n (ends halved), summing to (n - 1)/n; ours use
    the interval width 1/(n - 1) and sum to 1 (chapter 9 prints the difference)."""
    from captum.attr import IntegratedGradients as Ref

    net = small_net().double()
    x = inputs()
    ours = IntegratedGradients(net)(x, 1, baseline=0.0, n_steps=n, method="riemann_trapezoid")
    ref = Ref(net).attribute(x, torch.zeros_like(x), target=1, n_steps=n, method="riemann_trapezoid")
    assert torch.allclose(ref, ours * (n - 1) / n, atol=1e-9, rtol=0)
    assert (ours - ref).abs().max() >= 0.99 * ours.abs().max() / n > 0      # a real difference


def test_quadrature_rules():
    for m in ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"]:
        a, w = quadrature(m, 7)
        assert len(a) == len(w) == 7 and w.sum() == pytest.approx(1) and (a >= 0).all() and (a <= 1).all()
    a, w = quadrature("gausslegendre", 5)               # exact up to degree 9
    assert (w * a ** 9).sum() == pytest.approx(1 / 10, abs=1e-14)
    a, w = quadrature("riemann_trapezoid", 3)
    assert np.allclose(a, [0, .5, 1]) and np.allclose(w, [.25, .5, .25])
    with pytest.raises(ValueError, match="method must be one of"):
        quadrature("simpson", 5)
    with pytest.raises(ValueError, match="n_steps"):
        quadrature("riemann_trapezoid", 1)


def test_batched_per_example_and_internal_batch_size_identical():
    net = small_net().double()
    x, t = inputs(4), torch.tensor([0, 1, 2, 3])
    ig = IntegratedGradients(net)
    full = ig(x, t, n_steps=10)
    one = torch.cat([ig(x[i:i + 1], int(t[i]), n_steps=10) for i in range(4)])
    chunked = ig(x, t, n_steps=10, internal_batch_size=7)
    assert torch.allclose(full, one, atol=1e-12, rtol=0)
    assert torch.allclose(full, chunked, atol=1e-12, rtol=0)


def test_completeness_exact_for_a_linear_model_with_every_rule():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(144, 3)).double()
    x = inputs()
    for m in ["riemann_left", "riemann_trapezoid", "gausslegendre"]:
        _, gap = IntegratedGradients(net)(x, 2, n_steps=3, method=m, return_gap=True)
        assert gap.abs().max() < 1e-10


def _trained_net():
    """A small conv net trained for a few seconds to find which quadrant holds a bright blob."""
    g = torch.Generator().manual_seed(0)
    n = 512
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.2 * torch.rand(n, 1, 12, 12, generator=g)
    for i in range(n):
        r, c = 6 * (int(y[i]) // 2) + 1, 6 * (int(y[i]) % 2) + 1
        x[i, 0, r:r + 4, c:c + 4] += 0.8
    net = small_net()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(60):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (net(x).argmax(1) == y).float().mean() > 0.9
    opt.zero_grad(set_to_none=True)
    return net.eval(), x[:8], y[:8]


def test_completeness_gap_below_one_percent_at_64_gauss_legendre_steps():
    net, x, y = _trained_net()
    net = net.double()
    attr, gap = IntegratedGradients(net)(x.double(), y, n_steps=64, return_gap=True)
    diff = net(x.double()).gather(1, y[:, None])[:, 0] - net(torch.zeros_like(x).double()).gather(1, y[:, None])[:, 0]
    assert (gap.abs() / diff.abs()).max() < 0.01
    assert all(p.grad is None for p in net.parameters())


def test_baselines_and_their_average():
    net = small_net().double()
    x = inputs()
    ig = IntegratedGradients(net)
    kinds = ["black", "blur", "noise"]
    each = [ig(x, 1, baseline=k, n_steps=8, return_gap=True) for k in kinds]
    avg, gap = ig(x, 1, baseline=kinds, n_steps=8, return_gap=True)
    assert torch.allclose(avg, sum(a for a, _ in each) / 3, atol=1e-12)
    assert torch.allclose(gap, sum(g for _, g in each) / 3, atol=1e-12)
    blur = make_baseline(x, "blur")
    assert blur.shape == x.shape and blur.std() < x.std()
    assert torch.equal(make_baseline(x, "noise", seed=4), make_baseline(x, "noise", seed=4))
    # attribution is zero where the input equals the baseline
    same = x.clone()
    same[:, :, :6] = 0
    assert ig(same, 1, n_steps=4)[:, :, :6].abs().max() == 0


def test_path_scores_endpoints():
    net = small_net().double()
    x = inputs()
    s = path_scores(net, x, 2, torch.zeros_like(x), [0.0, 0.5, 1.0])
    assert s.shape == (3, 3)
    assert torch.allclose(s[-1], net(x)[:, 2]) and torch.allclose(s[0], net(torch.zeros_like(x))[:, 2])


def test_errors_and_state():
    net = small_net(inplace=True).train()
    ig = IntegratedGradients(net)
    with pytest.raises(ValueError, match="out of range"):
        ig(inputs(dtype=torch.float32), 4)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ig(torch.rand(1, 12, 12), 0)
    with pytest.raises(ValueError, match="does not match"):
        ig(inputs(dtype=torch.float32), 0, baseline=torch.zeros(2, 1, 5, 5))
    with pytest.raises(ValueError, match="baseline kind"):
        ig(inputs(dtype=torch.float32), 0, baseline="grey")
    assert net.training and all(p.requires_grad and p.grad is None for p in net.parameters())
    assert all(not m._forward_hooks and not m._backward_hooks for m in net.modules())
    a = IntegratedGradients(small_net(False))(inputs(dtype=torch.float32), 1, n_steps=8)
    b = ig(inputs(dtype=torch.float32), 1, n_steps=8)
    assert torch.allclose(a, b, atol=1e-6)
