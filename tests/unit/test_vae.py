"""Tests for chapter 10: the autoencoder/VAE models, their loss and training helpers."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_utils import metrics, recipes, steps
from course_utils.data import TensorData, augment
from course_utils.embed import latent as latent_space
from course_utils.explain import regions
from course_utils.models import vae as V
from course_utils.train import fit

ARCHS = [("ae", {"latent": 8}), ("fcvae", {"latent": 4, "hidden": (32,)}),
         ("convvae", {"latent": 6, "channels": (4, 8), "hidden": 16}),
         ("modifiedvae", {"latent": 6, "channels": (4, 8), "hidden": 16}),
         ("cvae", {"latent": 5, "hidden": (32, 16)}),
         ("vaegan", {"latent": 6, "channels": (4, 8), "hidden": 16, "disc_channels": (4, 8)})]


def tiny_data(n=64, seed=0, shapes=4):
    """``n`` copies of a few random black-and-white blob shapes: a learnable, deterministic
    stand-in for digits (labels: the shape)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(shapes, 1, 7, 7, generator=g)
    protos = (F.interpolate(base, size=28, mode="bilinear", align_corners=False) > 0.6).float()
    labels = torch.arange(n) % shapes
    images = protos[labels]
    return TensorData((images * 255).round().byte(), labels,
                      [str(i) for i in range(10)], "blobs")


@pytest.mark.parametrize("kind,arch", ARCHS)
def test_shapes(kind, arch):
    torch.manual_seed(0)
    model = V.build(kind, **arch)
    x, y = torch.rand(5, 1, 28, 28), torch.arange(5)
    out = model(x, y)
    assert out.logits.shape == (5, 1, 28, 28)
    assert out.mu.shape == out.z.shape == (5, arch["latent"])
    if kind == "ae":
        assert out.logvar is None
    else:
        assert out.logvar.shape == (5, arch["latent"])
    model.eval()
    rec = model.reconstruct(x, y)
    assert rec.shape == x.shape and rec.min() >= 0 and rec.max() <= 1
    if kind != "ae":
        assert model.sample(3, y[:3]).shape == (3, 1, 28, 28)
        assert torch.equal(model(x, y).z, model(x, y).mu)      # eval: decode the mean
        assert not torch.equal(model(x, y, sample=True).z, out.mu)


def test_discriminator_and_bad_input():
    model = V.VAEGAN(latent=4, channels=(4, 8), hidden=8, disc_channels=(4, 8))
    assert model.discriminator(torch.rand(3, 1, 28, 28)).shape == (3,)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        model(torch.rand(3, 28, 28))
    with pytest.raises(ValueError, match="unknown model kind"):
        V.build("gan")
    with pytest.raises(NotImplementedError, match="no prior"):
        V.AutoEncoder(4).sample(2)


@pytest.mark.parametrize("recon", ["bce", "mse"])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 4.0])
def test_loss_parts_add_up(recon, beta):
    torch.manual_seed(1)
    model = V.FCVAE(latent=3, hidden=(16,))
    x = torch.rand(7, 1, 28, 28)
    out = model(x)
    parts = V.vae_loss(out, x, recon, beta)
    assert torch.allclose(parts["loss"], parts["recon"] + beta * parts["kl"])
    if recon == "bce":
        ref = F.binary_cross_entropy(torch.sigmoid(out.logits), x, reduction="sum") / len(x)
    else:
        ref = F.mse_loss(torch.sigmoid(out.logits), x, reduction="sum") / len(x)
    assert torch.allclose(parts["recon"], ref, rtol=1e-4)
    q = torch.distributions.Normal(out.mu, torch.exp(0.5 * out.logvar))
    p = torch.distributions.Normal(torch.zeros_like(out.mu), torch.ones_like(out.mu))
    kl_ref = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert torch.allclose(parts["kl"], kl_ref, rtol=1e-5)


def test_loss_bad_arguments():
    out = V.VAEOutput(torch.zeros(2, 1, 28, 28), torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="'bce' or 'mse'"):
        V.vae_loss(out, torch.zeros(2, 1, 28, 28), recon="l1")
    with pytest.raises(ValueError, match="beta"):
        V.vae_loss(out, torch.zeros(2, 1, 28, 28), beta=-1)
    with pytest.raises(ValueError, match="differ in shape"):
        V.vae_loss(out, torch.zeros(2, 1, 14, 14))
    ae_out = V.VAEOutput(torch.zeros(2, 1, 28, 28), torch.zeros(2, 3), None, torch.zeros(2, 3))
    assert float(V.vae_loss(ae_out, torch.zeros(2, 1, 28, 28))["kl"]) == 0.0


def test_reparameterised_sample_statistics():
    n = 400_000
    mu = torch.tensor([[-1.0, 0.0, 2.5]]).expand(n, 3)
    sigma = torch.tensor([[0.3, 1.0, 2.0]])
    logvar = (2 * sigma.log()).expand(n, 3)
    z = V.reparameterise(mu, logvar, torch.Generator().manual_seed(0))
    # standard errors: sigma / sqrt(n) for the mean, about sigma^2 * sqrt(2 / n) for the variance
    assert torch.allclose(z.mean(0), mu[0], atol=5 * 2.0 / math.sqrt(n))
    assert torch.allclose(z.var(0), sigma[0] ** 2, rtol=5 * math.sqrt(2 / n))
    # the gradient flows to mu and logvar
    m, lv = torch.zeros(4, 2, requires_grad=True), torch.zeros(4, 2, requires_grad=True)
    V.reparameterise(m, lv).sum().backward()
    assert torch.equal(m.grad, torch.ones(4, 2)) and lv.grad is not None


def test_cvae_label_checks():
    model = V.ConditionalVAE(latent=4, n_classes=10, hidden=(16,))
    x = torch.rand(3, 1, 28, 28)
    with pytest.raises(ValueError, match=r"label out of range.*labels 0\.\.9.*max 10"):
        model(x, torch.tensor([0, 3, 10]))
    with pytest.raises(ValueError, match="label out of range"):
        model(x, torch.tensor([-1, 3, 4]))
    with pytest.raises(ValueError, match="needs class labels"):
        model(x)
    with pytest.raises(ValueError, match="integers"):
        model(x, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="3 integers"):
        model(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="label out of range"):
        model.sample(2, torch.tensor([1, 12]))
    # the label changes the output
    model.eval()
    z = torch.zeros(2, 4)
    a, b = model.decode(z, torch.tensor([1, 1])), model.decode(z, torch.tensor([1, 7]))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])


@pytest.mark.parametrize("kind,arch", [a for a in ARCHS if a[0] != "vaegan"])
def test_loss_falls_on_tiny_subset(kind, arch):
    data = tiny_data(64)
    torch.manual_seed(0)
    model = V.build(kind, **arch)
    hist = fit(model, data, data, epochs=8, optimizer="adam", lr=1e-2, batch_size=16, progress=False,
               step=steps.VAEStep())
    assert hist["train_loss"][-1] < 0.75 * hist["train_loss"][0]
    assert hist["test_neg_elbo"][-1] < hist["test_neg_elbo"][0]
    assert len(hist["seconds"]) == 8 and not model.training


def test_vaegan_trains_and_returns_parts():
    data = tiny_data(32)
    model = V.VAEGAN(latent=4, channels=(4, 8), hidden=16, disc_channels=(4, 8))
    hist = fit(model, data, data, epochs=3, optimizer="adam", lr=1e-3, batch_size=16, progress=False,
               step=steps.VAEGANStep())
    for key in ("train_d_loss", "train_adv", "train_recon", "test_neg_elbo"):
        assert len(hist[key]) == 3 and all(math.isfinite(v) for v in hist[key])
    assert hist["train_recon"][-1] < hist["train_recon"][0]
    with pytest.raises(TypeError, match="VAEGAN"):
        fit(V.ConvVAE(4, (4, 8), 8), data, optimizer="adam", step=steps.VAEGANStep())


def test_training_is_deterministic_and_denoising_runs():
    data = tiny_data(32)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(fit(V.FCVAE(3, (16,)), data, data, epochs=2, optimizer="adam", lr=1e-3,
                        batch_size=8, scheduler="cosine", seed=5, progress=False,
                        step=steps.VAEStep(noise=0.3, seed=5)))
    assert runs[0]["train_loss"] == runs[1]["train_loss"]
    assert runs[0]["test_neg_elbo"] == runs[1]["test_neg_elbo"]
    with pytest.raises(ValueError, match="unknown step"):
        steps.make("gan")


def test_evaluate_vae_parts():
    data = tiny_data(20)
    model = V.FCVAE(3, (16,))
    m = metrics.evaluate_vae(model, data, batch_size=7)
    assert math.isclose(m["neg_elbo"], m["bce"] + m["kl"], rel_tol=1e-9)
    assert math.isclose(m["psnr"], 10 * math.log10(1 / m["mse"]), rel_tol=1e-9)
    assert metrics.evaluate_vae(model, data, seed=3) == metrics.evaluate_vae(model, data, seed=3)
    assert metrics.evaluate_vae(V.AutoEncoder(4), data)["kl"] == 0.0
    noisy = metrics.evaluate_vae(model, data, noise=0.5)
    assert noisy["mse"] != m["mse"]


def test_train_or_load_uses_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    data = tiny_data(16)
    calls = []
    recipe = recipes.vae("t", "fcvae", arch={"latent": 3, "hidden": (8,)}, epochs=1, batch_size=8)
    m1, h1 = recipes.train_or_load(recipe, data, progress=False)
    m2, h2 = recipes.train_or_load(recipe, data, progress=False)
    assert h1["train_loss"] == h2["train_loss"]
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu())
    assert len(list(tmp_path.glob("t-*.pt"))) == 1
    recipes.train_or_load(recipe, tiny_data(16, seed=1), progress=False)      # other data: new entry
    assert len(list(tmp_path.glob("t-*.pt"))) == 2
    del calls


def test_metrics_and_latent_helpers():
    flat = torch.full((2, 1, 28, 28), 0.4)
    assert torch.allclose(metrics.laplacian_variance(flat), torch.zeros(2))
    edges = torch.zeros(1, 1, 28, 28)
    edges[..., ::2] = 1.0
    assert metrics.laplacian_variance(edges) > metrics.laplacian_variance(F.avg_pool2d(edges, 3, 1, 1))
    with pytest.raises(ValueError, match="grey images"):
        metrics.laplacian_variance(torch.zeros(1, 3, 8, 8))
    assert math.isclose(metrics.psnr(0.01), 20.0)
    grid = latent_space.latent_grid(5, 0.9)
    assert grid.shape == (25, 2) and torch.allclose(grid[12], torch.zeros(2), atol=1e-6)
    assert grid[0, 0] < 0 < grid[0, 1]                   # top-left: z1 small, z2 large
    path = latent_space.interpolate(torch.zeros(3), torch.ones(3), 5)
    assert path.shape == (5, 3) and torch.equal(path[0], torch.zeros(3)) and torch.equal(path[-1], torch.ones(3))
    x = torch.rand(4, 1, 28, 28)
    noisy = augment.add_noise(x, 0.5, torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, x)
    assert augment.mask_lower_half(x)[..., 14:, :].abs().sum() == 0


def test_impute_keeps_known_pixels():
    torch.manual_seed(0)
    model = V.FCVAE(3, (16,))
    x = torch.rand(3, 1, 28, 28)
    known = torch.zeros(1, 1, 28, 28, dtype=torch.bool)
    known[..., :14, :] = True
    out = latent_space.impute(model, x, known, steps=3)
    assert torch.equal(out[..., :14, :], x[..., :14, :])
    with torch.no_grad():
        assert not torch.equal(out[..., 14:, :], torch.zeros_like(out[..., 14:, :]))


def test_area_attribution():
    torch.manual_seed(0)
    model = V.ConvVAE(latent=4, channels=(4, 8), hidden=16)
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    x = torch.rand(2, 1, 28, 28)
    box = (6, 10, 8)
    attr = regions.area_guided_backprop(model, x, box)
    assert attr.shape == (2, 28, 28)
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._backward_hooks for m in model.modules() if isinstance(m, nn.ReLU))
    # without the guided rule the same routine is the plain gradient of the square's sum
    net = V.MeanReconstruction(model).eval()
    xg = x.clone().requires_grad_(True)
    regions.area_target(box)(net(xg)).sum().backward()
    plain = xg.grad[:, 0]
    assert not torch.allclose(attr, plain)          # guided rule changes it
    # mass_outside: 0 for a map inside the square, 1 for one outside it
    m = torch.zeros(2, 28, 28)
    m[0, 7, 11] = 1.0
    m[1, 0, 0] = -2.0
    assert torch.allclose(regions.mass_outside(m, box), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="does not fit"):
        regions.box_mask((24, 0, 8))
