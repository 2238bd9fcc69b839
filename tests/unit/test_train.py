import math

import pytest
import torch
import torch.nn as nn

import course_utils as cu
from course_utils.models import LeNet5, MyNet, summary


def small_net():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 2))


def test_fit_lowers_the_loss_on_a_tiny_problem(toy_data):
    h = cu.train.fit(small_net(), toy_data, toy_data, epochs=5, lr=0.05, batch_size=32,
                     progress=False, device="cpu")
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert h.test_acc[-1] >= 0.95
    assert len(h.epoch) == len(h.seconds) == len(h.test_loss) == 5


def test_same_seed_gives_identical_history(toy_data):
    runs = [cu.train.fit(cu.seed_everything(7) and small_net(), toy_data, toy_data, epochs=2, lr=0.05, seed=7,
                         progress=False, device="cpu").to_dict() for _ in range(2)]
    runs[0].pop("seconds"), runs[1].pop("seconds")
    assert runs[0] == runs[1]


def test_warmup_ramps_linearly():
    assert [cu.train.warmup_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert cu.train.warmup_factor(0, 0) == 1.0


def test_warmup_and_snapshots_in_fit(toy_data):
    h = cu.train.fit(small_net(), toy_data, None, epochs=3, lr=0.1, warmup_epochs=2,
                     batch_size=64, snapshot_epochs=(0, 2), progress=False, device="cpu")
    assert h.lr[0] == pytest.approx(0.05) and h.lr[1] == pytest.approx(0.1)
    assert sorted(h.snapshots) == [0, 2]


def test_divergence_raises_a_clear_error(toy_data):
    with pytest.raises(FloatingPointError, match="learning rate"):
        cu.train.fit(small_net(), toy_data, None, epochs=3, optimizer="sgd", lr=1e12,
                     progress=False, device="cpu")


class FormatSpy(cu.train.ClassifyStep):
    """The default step, noting whether MyNet's second convolution ran in channels_last."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __call__(self, model, x, y):
        self.seen.append(model.conv2.weight.is_contiguous(memory_format=torch.channels_last))
        return super().__call__(model, x, y)


def test_channels_last_trains_the_same_network_and_hands_it_back_in_nchw(toy_data):
    runs = {}
    for cl in (False, True):
        torch.manual_seed(0)
        net, spy = MyNet(num_classes=2), FormatSpy()
        h = cu.train.fit(net, toy_data, toy_data, epochs=2, lr=0.02, batch_size=32, progress=False,
                         device="cpu", channels_last=cl, step=spy)
        assert all(spy.seen) == cl and any(spy.seen) == cl
        assert all(p.is_contiguous() for p in net.parameters())
        runs[cl] = (h, net)
    (h0, net0), (h1, net1) = runs[False], runs[True]
    # only the order of the sums differs: the same curves and weights to float rounding
    assert h1.train_loss == pytest.approx(h0.train_loss, rel=1e-4)
    for p0, p1 in zip(net0.parameters(), net1.parameters()):
        torch.testing.assert_close(p1, p0, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_per_epoch_test_pass_leaves_training_unchanged(toy_data, channels_last):
    """Chapter 11 draws its curves on part of the test set and skips them where none is drawn:
    the weights and training curves must be the same to the last bit either way."""
    def net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.3),
                             nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 2))
    runs = []
    for test in (toy_data, toy_data.take(slice(0, 40)), None):
        model = net()
        h = cu.train.fit(model, toy_data, test, epochs=2, optimizer="adam", lr=1e-2, batch_size=32,
                         progress=False, device="cpu", channels_last=channels_last)
        runs.append((model.state_dict(), h.train_loss, h.train_acc, len(h.test_acc)))
    assert [r[3] for r in runs] == [2, 2, 0]
    for state, loss, acc, _ in runs[1:]:
        assert loss == runs[0][1] and acc == runs[0][2]
        assert all(torch.equal(state[k], runs[0][0][k]) for k in state)


def test_channels_last_is_undone_when_training_fails(toy_data):
    net = MyNet(num_classes=2)
    with pytest.raises(FloatingPointError):
        cu.train.fit(net, toy_data, None, epochs=2, optimizer="sgd", lr=1e12, progress=False,
                     device="cpu", channels_last=True)
    assert not net.conv2.weight.is_contiguous(memory_format=torch.channels_last)


def test_channels_last_refuses_the_onednn_trap(toy_data):
    """A 1x1 stride-2 convolution on fewer than 8 channels crashes in channels_last on AVX2."""
    from course_utils.models import zoo
    net = zoo.SmallResNet(widths=(4, 8))
    with pytest.raises(ValueError, match="1x1 strided convolution with 4 input channels"):
        cu.train.fit(net, toy_data, None, epochs=1, progress=False, device="cpu", channels_last=True)
    assert all(p.is_contiguous() for p in net.parameters())


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        cu.train.make_optimizer("adamax", small_net().parameters(), 0.1)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_runs_foreach_and_matches_single_tensor_adam_bit_for_bit(name):
    """make_optimizer's Adam uses foreach kernels (faster on CPU), with the same weights as
    torch's single-tensor default to the last bit, weight decay included."""
    def train(foreach):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
        opt = cu.train.make_optimizer(name, model.parameters(), 1e-2, weight_decay=1e-3)
        assert opt.defaults["foreach"] is True
        for group in opt.param_groups:
            group["foreach"] = foreach
        g = torch.Generator().manual_seed(1)
        for _ in range(20):
            x, y = torch.randn(16, 20, generator=g), torch.randint(0, 3, (16,), generator=g)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return model.state_dict()

    single, many = train(False), train(True)
    assert all(torch.equal(single[k], many[k]) for k in single)


def test_evaluate_and_predict_restore_train_mode(toy_data):
    net = small_net().train()
    loss, acc = cu.train.evaluate(net, toy_data, device="cpu")
    assert net.training and math.isfinite(loss) and 0 <= acc <= 1
    assert cu.train.predict(net, toy_data, device="cpu").shape == (len(toy_data), 2)


def test_lenet_shapes_and_input_check():
    for net, params in [(LeNet5(), 61706), (MyNet(), None)]:
        assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
        with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
            net(torch.zeros(3, 1, 32, 32))
        table = summary(net, (1, 28, 28))
        assert table.iloc[-1]["params"] == cu.models.count_params(net)
        if params:
            assert table.iloc[-1]["params"] == params


def test_history_plot_has_loss_and_accuracy(toy_data):
    h = cu.train.fit(small_net(), toy_data, toy_data, epochs=2, progress=False, device="cpu")
    fig = h.plot("toy")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]


@pytest.mark.parametrize("bad,words", [
    (dict(epochs=0), "epochs must be an integer >= 1, got 0"),
    (dict(epochs=-3), "epochs must be an integer >= 1, got -3"),
    (dict(epochs=2.5), "epochs must be an integer"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(batch_size="32"), "batch_size must be an integer >= 1, got '32'"),
    (dict(lr=0), "lr must be a finite number > 0, got 0"),
    (dict(lr=-0.1), "lr must be a finite number > 0"),
    (dict(lr=float("nan")), "lr must be a finite number > 0, got nan"),
    (dict(warmup_epochs=-1), "warmup_epochs must be a number >= 0"),
])
def test_bad_settings_fail_before_training(toy_data, bad, words):
    net = small_net()
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        cu.train.fit(net, toy_data, None, **{"progress": False, "device": "cpu", **bad})
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_no_training_data_is_rejected(toy_data):
    with pytest.raises(ValueError, match="train must be at least one example, got '0 examples'"):
        cu.train.fit(small_net(), toy_data.take(slice(0, 0)), None, progress=False, device="cpu")


def test_bad_epochs_saves_no_checkpoint(tmp_course, toy_data):
    """The run that fails on its settings leaves nothing in the cache (issue: epochs=-3)."""
    cfg = {"epochs": -3}
    with pytest.raises(ValueError, match="epochs"):
        cu.cache.train_or_load("toy", cfg, small_net, lambda m: cu.train.fit(
            m, toy_data, None, epochs=cfg["epochs"], progress=False, device="cpu"))
    assert not cu.cache.checkpoint_path("toy", cfg).exists()
