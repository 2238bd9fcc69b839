import pytest
import torch

from course_utils import features
from course_utils.models import LeNet5


def n_hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_capture_records_named_layers_and_removes_hooks():
    net = LeNet5()
    with features.capture(net, ["conv1", net.fc1]) as acts:
        net(torch.zeros(2, 1, 28, 28))
    assert acts["conv1"].shape == (2, 6, 28, 28) and acts["fc1"].shape == (2, 120)
    assert n_hooks(net) == 0


def test_hooks_removed_after_an_exception():
    net = LeNet5()
    with pytest.raises(ValueError, match="expects a batch"):
        with features.capture(net, ["conv1", "conv2"]):
            assert n_hooks(net) == 2
            net(torch.zeros(2, 3, 28, 28))
    assert n_hooks(net) == 0


def test_unknown_layer_lists_the_available_ones():
    with pytest.raises(ValueError, match="no layer named 'conv9'.*conv1"):
        features.get_module(LeNet5(), "conv9")
    with pytest.raises(ValueError, match="not a submodule"):
        features.get_module(LeNet5(), torch.nn.ReLU())


def test_extract_batches_and_restores_mode():
    net = LeNet5().train()
    out = features.extract(net, torch.rand(7, 1, 28, 28), ["pool2", "fc3"], batch_size=3)
    assert out["pool2"].shape == (7, 400) and out["fc3"].shape == (7, 10)
    assert net.training and n_hooks(net) == 0


def test_extract_matches_a_direct_forward_pass():
    torch.manual_seed(0)
    net = LeNet5()
    x = torch.rand(5, 1, 28, 28)
    out = features.extract(net, x, "fc3", batch_size=2)
    with torch.no_grad():
        assert torch.allclose(out["fc3"], net.eval()(x), atol=1e-6)
