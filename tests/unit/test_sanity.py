"""Sanity checks for attribution (chapter 9): Spearman against scipy, SSIM against
scikit-image, and model-parameter randomisation that never touches the given model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import course_utils
from course_utils.explain.sanity import (
    cascading_randomization,
    independent_randomization,
    randomize,
    rankdata,
    similarity,
    spearman,
    ssim,
)

PACKAGE = Path(course_utils.__file__).parent


def maps(n=4, h=20, w=24, seed=0, levels=None):
    """Random maps; with ``levels`` the values are rounded to that many levels (many ties)."""
    m = torch.randn(n, h, w, generator=torch.Generator().manual_seed(seed))
    return m if levels is None else (m * levels / 4).round()


def test_rankdata_equals_scipy_with_ties():
    from scipy.stats import rankdata as ref

    v = maps(3, 6, 7, levels=3).flatten(1)
    assert torch.equal(rankdata(v), torch.from_numpy(ref(v.numpy(), axis=1)))


@pytest.mark.parametrize("levels", [None, 4])      # continuous values, and many ties
def test_spearman_equals_scipy(levels):
    from scipy.stats import spearmanr

    a = maps(levels=levels)
    b = 0.5 * a + maps(seed=1, levels=levels)       # correlated, but not perfectly
    ours = spearman(a, b)
    ref = [spearmanr(a[i].flatten().numpy(), b[i].flatten().numpy()).statistic for i in range(len(a))]
    assert np.allclose(ours.numpy(), ref, atol=1e-12, rtol=0)
    assert 0.2 < float(ours.min()) < 0.8            # the test pairs are neither alike nor unrelated


def test_spearman_of_a_constant_map_is_the_fill_value():
    a = maps(2)
    b = a.clone()
    b[1] = 0.0                                      # scipy: NaN
    rho = spearman(a, b)
    assert rho[0] == pytest.approx(1.0) and rho[1] == 0.0
    assert spearman(a, b, constant=float("-1"))[1] == -1.0
    assert spearman(a, -a).tolist() == pytest.approx([-1.0, -1.0])


@pytest.mark.parametrize("levels", [None, 4])
def test_ssim_equals_skimage(levels):
    from skimage.metrics import structural_similarity

    a = maps(levels=levels).abs()
    b = (a + 0.7 * maps(seed=2, levels=levels).abs())
    a, b = a / a.amax((1, 2), keepdim=True), b / b.amax((1, 2), keepdim=True)
    ours = ssim(a, b, data_range=1.0)
    ref = [structural_similarity(a[i].double().numpy(), b[i].double().numpy(), data_range=1.0,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
           for i in range(len(a))]
    assert np.allclose(ours.numpy(), ref, atol=1e-10, rtol=0)
    assert 0.1 < float(ours.min()) < 0.95
    assert torch.allclose(ssim(a, a), torch.ones(len(a), dtype=torch.float64), atol=1e-12)


def test_similarity_keys_and_sign():
    a = maps()
    s = similarity(a, -a)
    assert set(s) == {"spearman_abs", "spearman", "ssim"}
    assert torch.allclose(s["spearman_abs"], torch.ones(4, dtype=torch.float64))   # |a| = |-a|
    assert torch.allclose(s["spearman"], -torch.ones(4, dtype=torch.float64))
    assert torch.allclose(s["ssim"], torch.ones(4, dtype=torch.float64))
    # (N, 1, H, W) is accepted as (N, H, W)
    assert torch.allclose(similarity(a[:, None], a)["spearman"], torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("call,kind,words", [
    (lambda: spearman(maps(), maps(h=10)), ValueError, ["same shape", "(4, 20, 24)", "(4, 10, 24)"]),
    (lambda: spearman(maps()[:, None].expand(4, 3, 20, 24), maps()), ValueError, ["reduce channels"]),
    (lambda: ssim(maps(h=8, w=8), maps(h=8, w=8)), ValueError, ["at least 11x11"]),
    (lambda: ssim(maps(), maps(), data_range=0), ValueError, ["data_range", "> 0"]),
    (lambda: similarity(maps().fill_(float("nan")), maps()), ValueError, ["finite"]),
    (lambda: spearman(maps().numpy().tolist(), maps()), TypeError, ["tensor"]),
])
def test_bad_maps(call, kind, words):
    with pytest.raises(kind) as excinfo:
        call()
    assert Path(excinfo.traceback[-1].path).is_relative_to(PACKAGE)
    for word in words:
        assert word in str(excinfo.value), (word, str(excinfo.value))


def net() -> nn.Module:
    """A small network whose batch norm is not at its initial state (as if trained)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with torch.no_grad():
        model[1].running_mean.fill_(0.3)
        model[1].weight.fill_(2.0)
    return model


LAYERS = {"head": "6", "conv2": "3", "conv1": ("0", "1")}   # top down


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(a, b, prefix):
    return all(torch.equal(a[k], b[k]) for k in a if k.startswith(prefix))


def test_cascading_randomizes_top_down_and_leaves_the_model_alone():
    model = net()
    before = state(model)
    rng = torch.random.get_rng_state()
    cascade = cascading_randomization(model, LAYERS, seed=0)
    assert torch.equal(rng, torch.random.get_rng_state())       # global random stream untouched
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert [label for label, _ in cascade] == ["head", "conv2", "conv1"]
    prefixes = ["6.", "3.", "0."]
    for k, (_, copy) in enumerate(cascade):
        s = state(copy)
        for j, p in enumerate(prefixes):        # groups 0..k re-initialised, the rest as trained
            assert same(s, before, p) == (j > k), (k, p)
    # the batch norm went with its conv: running statistics reset, affine back to (1, 0)
    last = state(cascade[-1][1])
    assert torch.equal(last["1.running_mean"], torch.zeros(4)) and torch.equal(last["1.weight"], torch.ones(4))


def test_independent_matches_cascade_layer_by_layer():
    model = net()
    before = state(model)
    cascade = dict(cascading_randomization(model, LAYERS, seed=3))
    alone = independent_randomization(model, LAYERS, seed=3)
    changed = {"head": {"6."}, "conv2": {"3."}, "conv1": {"0.", "1."}}
    for label, copy in alone:
        s = state(copy)
        for p in ["6.", "3.", "0.", "1."]:                         # this group alone re-initialised...
            assert same(s, before, p) == (p not in changed[label]), (label, p)
            if p in changed[label]:                                # ...with the cascade's weights
                assert same(s, state(cascade[label]), p)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_seeds_reproduce_and_differ():
    model = net()
    a, b, c = (state(randomize(model, ["6"], seed=s)) for s in (1, 1, 2))
    assert same(a, b, "6.") and not same(a, c, "6.")
    assert same(a, state(model), "0.")


def test_randomized_copy_keeps_mode_and_device():
    model = net().train()
    copy = randomize(model, [model[6]])                      # a module works as well as a name
    assert copy.training and copy is not model and copy[6] is not model[6]


@pytest.mark.parametrize("layers,kind,words", [
    (["9"], ValueError, ["no layer named '9'"]),
    (["2"], ValueError, ["'2'", "ReLU", "no parameters"]),
    ([], ValueError, ["empty"]),
    ([3], TypeError, ["int"]),
    (3, TypeError, ["sequence", "mapping"]),
])
def test_bad_layers(layers, kind, words):
    with pytest.raises(kind) as excinfo:
        cascading_randomization(net(), layers)
    assert Path(excinfo.traceback[-1].path).is_relative_to(PACKAGE)
    for word in words:
        assert word in str(excinfo.value), (word, str(excinfo.value))
