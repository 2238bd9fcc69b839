"""Tests of the chapter-7 row-by-row recurrent classifiers (course_utils.models.rnn)."""
import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_batch_losses
from course_utils import features, recipes
from course_utils.models import RowRNN

CELLS = ["rnn", "lstm", "gru"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_output_shape_images_and_sequences(cell, layers):
    model = RowRNN(cell, hidden_size=16, num_layers=layers, num_classes=7)
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 7)
    assert model(torch.rand(5, 28, 28)).shape == (5, 7)
    assert model(torch.rand(5, 10, 28)).shape == (5, 7)        # any number of rows


def test_cell_names():
    assert isinstance(RowRNN("LSTM").rnn, torch.nn.LSTM)
    assert isinstance(RowRNN("gru").rnn, torch.nn.GRU)
    with pytest.raises(ValueError, match=r"unknown cell 'transformer'; expected one of \['gru', 'lstm', 'rnn'\]"):
        RowRNN("transformer")


@pytest.mark.parametrize("bad", [(5, 3, 28, 28), (5, 28, 27), (28, 28), (5, 1, 28, 20)])
def test_wrong_input_shape_is_rejected(bad):
    with pytest.raises(ValueError, match=r"RowRNN expects images \(N, 1, T, 28\)"):
        RowRNN("gru", hidden_size=8)(torch.rand(*bad))


def test_parameter_counts_follow_the_gates():
    h, d = 32, 28
    block = h * (d + h) + 2 * h
    for cell, gates in [("rnn", 1), ("lstm", 4), ("gru", 3)]:
        model = RowRNN(cell, hidden_size=h)
        assert sum(p.numel() for p in model.rnn.parameters()) == gates * block


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_unrolled_matches_forward(cell, layers):
    torch.manual_seed(0)
    model = RowRNN(cell, hidden_size=12, num_layers=layers).eval()
    x = torch.rand(4, 1, 28, 28)
    logits, states = model.unrolled(x)
    assert len(states) == 28 and states[0].shape == (4, 12)
    torch.testing.assert_close(logits, model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_gradient_norms_match_a_perturbation_of_h_t(cell):
    """dL/dh_t from the unrolled graph equals the gradient of the loss wrt a perturbation added
    to h_t (computed by a second unroll with the perturbation injected)."""
    torch.manual_seed(0)
    model = RowRNN(cell, hidden_size=6).double()
    x, y = torch.rand(3, 28, 28, dtype=torch.float64), torch.tensor([0, 1, 2])
    norms = features.gradient_norms_through_time(model, x, y)
    assert norms.shape == (28,) and torch.all(norms >= 0)

    t = 20
    delta = torch.zeros(3, 6, dtype=torch.float64, requires_grad=True)
    seq = model.as_sequence(x)
    state = None
    for step in range(28):
        out, state = model.rnn(seq[:, step:step + 1], state)
        top = out[:, 0] + (delta if step == t else 0)
        state = (top[None], state[1]) if cell == "lstm" else top[None]
    loss = F.cross_entropy(model.fc(top), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, delta)
    torch.testing.assert_close(norms[t], g.norm(dim=1).mean(), atol=1e-6, rtol=1e-4)


def test_gradient_norms_leave_model_untouched():
    model = RowRNN("lstm", hidden_size=8)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    features.gradient_norms_through_time(model, torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4]))
    assert model.training
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("cell", CELLS)
def test_learns_a_tiny_subset(cell):
    losses = tiny_batch_losses(lambda: RowRNN(cell, hidden_size=32, num_classes=4), steps=60, lr=1e-2)
    assert losses[-1] < 0.5 * losses[0]


def test_rnn_recipe():
    fast, full = recipes.rnn("gru", 64, fast=True), recipes.rnn("gru", 64, fast=False)
    assert fast.model_kw["hidden_size"] == 64 and full.data["train_size"] is None
    assert full.epochs > fast.epochs
    assert recipes.rnn("rnn", lr=0.01, max_grad_norm=None).lr == 0.01
    with pytest.raises(ValueError, match="unknown recipe fields"):
        recipes.rnn("rnn", hidden=3)
    with pytest.raises(ValueError, match="unknown cell"):
        recipes.rnn("tcn")
