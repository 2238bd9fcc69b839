"""SmoothGrad (chapter 9) against captum's NoiseTunnel, given the very same noise draws.

captum draws its noise inside ``NoiseTunnel._add_noise_to_input`` from the global random
stream; the tests replace that one function with one that adds *our* noise (after checking
that captum asked for the same standard deviation), so both sides average the same noisy
copies and must agree to float64 rounding (1e-10; with IG inside, 1e-7 of the largest value,
as captum rounds its quadrature weights to float32).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

import course_utils
from course_utils.explain.guided import GuidedBackprop, input_gradient
from course_utils.explain.ig import IntegratedGradients
from course_utils.explain.smoothgrad import SmoothGrad

PACKAGE = Path(course_utils.__file__).parent
TOL = 1e-10  # float64 throughout


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 4)).double()


def inputs(n=3):
    """Images with values in [0, 1] and each image's min 0 and max 1 (so every example's
    noise sigma is noise_level, and one float stdev serves captum for the whole batch)."""
    x = torch.rand(n, 1, 10, 10, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x[:, 0, 0, 0], x[:, 0, -1, -1] = 0.0, 1.0
    return x


def with_our_noise(monkeypatch, eps: torch.Tensor, sigma: float):
    """Make captum add ``eps`` (n_samples, N, ...) instead of drawing its own noise."""
    from captum.attr import NoiseTunnel

    calls = []

    def add_noise(inp, stdev, n_samples):
        assert stdev == pytest.approx(sigma) and n_samples == eps.shape[0]
        calls.append(n_samples)
        # captum's rows: example-major, input.repeat_interleave(n_samples, 0)
        return inp.repeat_interleave(n_samples, 0) + eps.transpose(0, 1).reshape(-1, *inp.shape[1:])

    monkeypatch.setattr(NoiseTunnel, "_add_noise_to_input", staticmethod(add_noise))
    return calls


@pytest.mark.parametrize("squared", [False, True])
def test_equals_captum_noise_tunnel_on_saliency(monkeypatch, squared):
    from captum.attr import NoiseTunnel, Saliency

    net, x, t = small_net(), inputs(), torch.tensor([0, 2, 3])
    n, level = 8, 0.2
    eps = SmoothGrad.noise(x, n, level, seed=5)
    calls = with_our_noise(monkeypatch, eps, level)
    ours = SmoothGrad(net)(x, t, n_samples=n, noise_level=level, squared=squared, seed=5)
    ref = NoiseTunnel(Saliency(net)).attribute(
        x, nt_type="smoothgrad_sq" if squared else "smoothgrad", nt_samples=n, stdevs=level,
        target=t, abs=False)
    assert calls == [n]
    assert torch.allclose(ours, ref, atol=TOL, rtol=0)
    assert ours.abs().max() > 1e-6          # not a comparison of two zero maps


def test_equals_captum_noise_tunnel_on_integrated_gradients(monkeypatch):
    from captum.attr import IntegratedGradients as CaptumIG
    from captum.attr import NoiseTunnel

    net, x, t = small_net(), inputs(2), torch.tensor([1, 3])
    n, level = 5, 0.1
    eps = SmoothGrad.noise(x, n, level, seed=1)
    with_our_noise(monkeypatch, eps, level)
    ig = IntegratedGradients(net)
    ours = SmoothGrad(net, lambda xx, tt: ig(xx, tt, baseline="black", n_steps=8))(
        x, t, n_samples=n, noise_level=level, seed=1)
    ref = NoiseTunnel(CaptumIG(net)).attribute(x, nt_type="smoothgrad", nt_samples=n, stdevs=level,
                                               target=t, n_steps=8, method="gausslegendre")
    # captum rounds its quadrature weights to float32 (relative 6e-8); measured: 1.7e-8 of the max
    assert torch.allclose(ours, ref, atol=1e-7 * float(ref.abs().max()), rtol=0)


def test_zero_noise_is_the_base_method():
    net, x, t = small_net(), inputs(), 1
    grad = input_gradient(net, x, t)
    assert torch.allclose(SmoothGrad(net)(x, t, n_samples=3, noise_level=0.0), grad, atol=TOL, rtol=0)
    assert torch.allclose(SmoothGrad(net)(x, t, n_samples=3, noise_level=0.0, squared=True), grad ** 2,
                          atol=TOL, rtol=0)
    guided = GuidedBackprop(net)
    assert torch.allclose(SmoothGrad(net, guided)(x, t, n_samples=2, noise_level=0.0), guided(x, t),
                          atol=TOL, rtol=0)


def test_noise_is_seeded_scaled_per_example_and_gaussian():
    x = inputs(2)
    x[1] *= 3.0                               # range 3: three times the noise of example 0
    a = SmoothGrad.noise(x, 400, 0.1, seed=7)
    assert torch.equal(a, SmoothGrad.noise(x, 400, 0.1, seed=7))
    assert not torch.equal(a, SmoothGrad.noise(x, 400, 0.1, seed=8))
    assert a.shape == (400, 2, 1, 10, 10)
    # 40,000 draws per example: the sample std is within 2 % of sigma (about 6 standard errors)
    assert a[:, 0].std().item() == pytest.approx(0.1, rel=0.02)
    assert a[:, 1].std().item() == pytest.approx(0.3, rel=0.02)
    assert abs(a[:, 0].mean().item()) < 0.1 * 6 / 200


def test_leaves_global_rng_model_and_grads_alone():
    net = small_net().train()
    x = inputs()
    state = torch.random.get_rng_state()
    SmoothGrad(net)(x, 0, n_samples=3)
    assert torch.equal(state, torch.random.get_rng_state())
    assert net.training and all(m.training for m in net.modules())
    assert all(p.requires_grad and p.grad is None for p in net.parameters())


def test_batch_size_and_target_none():
    net, x = small_net(), inputs()
    whole = SmoothGrad(net)(x, None, n_samples=7, seed=2)
    chunked = SmoothGrad(net)(x, None, n_samples=7, seed=2, batch_size=4)
    assert torch.allclose(whole, chunked, atol=TOL, rtol=0)
    top = net(x).argmax(1)                    # None: the clean input's top class, for every copy
    assert torch.allclose(whole, SmoothGrad(net)(x, top, n_samples=7, seed=2), atol=TOL, rtol=0)


def clear_error(excinfo, *words):
    assert excinfo.type in (ValueError, TypeError)
    assert Path(excinfo.traceback[-1].path).is_relative_to(PACKAGE), excinfo.traceback[-1].path
    for word in words:
        assert word in str(excinfo.value), (word, str(excinfo.value))


BAD = {
    "x not a tensor": (lambda sg, x: sg(x.numpy(), 0), TypeError, ["x", "torch.Tensor"]),
    "x without batch dim": (lambda sg, x: sg(x[0], 0), ValueError, ["(N, C, H, W)", "x[None]"]),
    "x float32 for a float64 model": (lambda sg, x: sg(x.float(), 0), TypeError, ["torch.float32"]),
    "x NaN": (lambda sg, x: sg(x.clone().fill_(float("nan")), 0), ValueError, ["finite"]),
    "n_samples 0": (lambda sg, x: sg(x, 0, n_samples=0), ValueError, ["n_samples", ">= 1"]),
    "n_samples float": (lambda sg, x: sg(x, 0, n_samples=2.5), TypeError, ["n_samples", "integer"]),
    "noise_level negative": (lambda sg, x: sg(x, 0, noise_level=-0.1), ValueError, ["noise_level", ">= 0"]),
    "noise_level NaN": (lambda sg, x: sg(x, 0, noise_level=float("nan")), ValueError, ["noise_level", "finite"]),
    "noise_level string": (lambda sg, x: sg(x, 0, noise_level="high"), TypeError, ["noise_level", "number"]),
    "seed negative": (lambda sg, x: sg(x, 0, seed=-1), ValueError, ["seed", ">= 0"]),
    "squared not bool": (lambda sg, x: sg(x, 0, squared="yes"), TypeError, ["squared", "True or False"]),
    "batch_size 0": (lambda sg, x: sg(x, 0, batch_size=0), ValueError, ["batch_size"]),
    "target out of range": (lambda sg, x: sg(x, 9), ValueError, ["out of range", "has 4"]),
    "method wrong shape": (lambda sg, x: SmoothGrad(sg.model, lambda xx, tt: xx.sum(1))(x, 0, n_samples=2),
                           ValueError, ["shaped like its input"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input(case):
    call, kind, words = BAD[case]
    sg = SmoothGrad(small_net())
    with pytest.raises(kind) as excinfo:
        call(sg, inputs(2))
    clear_error(excinfo, *words)


def test_bad_construction():
    with pytest.raises(TypeError, match="nn.Module"):
        SmoothGrad(lambda x: x)
    with pytest.raises(TypeError, match="method must be callable"):
        SmoothGrad(small_net(), method="guided")
