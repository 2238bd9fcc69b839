"""Recurrent classifiers that read an image row by row (chapter 7).

A 28x28 digit becomes a sequence of 28 time steps, each the 28 pixels of one row. A plain
RNN (tanh), an LSTM or a GRU reads the rows in order and the last hidden state of the top
layer is mapped to class logits.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import cache as _cache
from .. import config as _config
from .. import data as _data
from .. import train as _train

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RowRNN(nn.Module):
    """Row-sequence classifier (chapter 7): ``cell`` is ``"rnn"`` (tanh), ``"lstm"`` or
    ``"gru"``, with ``hidden_size`` units in each of ``num_layers`` layers.

    Input: images (N, 1, T, D) or sequences (N, T, D), D = ``input_size`` pixels per row and
    any number T of rows; output: (N, ``num_classes``) logits from the last hidden state.
    Recurrent weights start orthogonal; the LSTM's forget-gate bias starts at 1.
    """

    def __init__(self, cell: str = "lstm", hidden_size: int = 128, num_layers: int = 1,
                 input_size: int = 28, num_classes: int = 10):
        super().__init__()
        key = str(cell).lower()
        if key not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(CELLS)}")
        if hidden_size < 1 or num_layers < 1:
            raise ValueError(f"hidden_size and num_layers must be >= 1, got {hidden_size}, {num_layers}")
        self.cell, self.hidden_size, self.num_layers, self.input_size = key, hidden_size, num_layers, input_size
        self.rnn = CELLS[key](input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)
        # orthogonal recurrent weights (each gate's block): repeated products by U neither blow
        # up nor shrink at the start; the LSTM's forget gate starts open (bias 1)
        for name, p in self.rnn.named_parameters():
            if name.startswith("weight_hh"):
                for block in p.data.split(hidden_size):
                    nn.init.orthogonal_(block)
            elif name.startswith("bias_hh") and key == "lstm":
                p.data[hidden_size:2 * hidden_size].fill_(1.0)   # gate order: input, forget, cell, output

    def as_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, T, D) images or (N, T, D) sequences -> (N, T, D) sequences."""
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 3 or x.shape[-1] != self.input_size or x.shape[1] < 1:
            raise ValueError(f"RowRNN expects images (N, 1, T, {self.input_size}) or sequences "
                             f"(N, T, {self.input_size}), got {tuple(x.shape)}")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.as_sequence(x))
        return self.fc(out[:, -1])

    def unrolled(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        """Run the same weights one time step at a time and return ``(logits, states)``, where
        ``states[t]`` is the top layer's hidden state after row ``t`` (N, hidden), a node of the
        autograd graph (chapter 7: gradients through time). ``h0`` (layers, N, hidden) is the
        initial hidden state (zeros if None; the LSTM's cell state always starts at zero)."""
        seq = self.as_sequence(x)
        n = seq.shape[0]
        if h0 is None:
            h0 = seq.new_zeros(self.num_layers, n, self.hidden_size)
        state = (h0, torch.zeros_like(h0)) if self.cell == "lstm" else h0
        states = []
        for t in range(seq.shape[1]):
            out, state = self.rnn(seq[:, t:t + 1], state)
            top = out[:, 0]
            states.append(top)
            # feed the top layer's state on through ``top`` itself, so that dL/dh_t (taken with
            # respect to ``top``) includes every path through the later steps
            if self.cell == "lstm":
                state = (torch.cat([state[0][:-1], top[None]]), state[1])
            else:
                state = torch.cat([state[:-1], top[None]])
        return self.fc(states[-1]), states


def gradient_norms_through_time(model: RowRNN, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the norm of dL/dh_t, the gradient of the cross-entropy loss with
    respect to the top layer's hidden state after each row t (chapter 7). Returns a tensor of
    length T. Parameter ``.grad`` and the model's train/eval mode are left as they were."""
    from ..features import frozen_eval

    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    with frozen_eval(model), torch.enable_grad():
        seq = model.as_sequence(x)
        h0 = seq.new_zeros(model.num_layers, seq.shape[0], model.hidden_size, requires_grad=True)
        logits, states = model.unrolled(seq, h0)
        loss = F.cross_entropy(logits, y, reduction="sum")  # per-example gradients, not / N
        grads = torch.autograd.grad(loss, states)
    return torch.stack([g.norm(dim=1).mean() for g in grads]).detach().cpu()


# --------------------------------------------------------------------------- training recipe
def mnist_config(cell: str, hidden_size: int = 128, fast: bool | None = None, **overrides) -> dict:
    """The chapter-7 recipe for a :class:`RowRNN` on MNIST, as the dict that keys its
    checkpoint: Adam at learning rate 1e-3 with a cosine decay, gradient norm clipped at 1,
    batches of 128. Fast mode: 5,000 / 1,000 images, 3 epochs in batches of 64; full mode:
    60,000 / 10,000 images, 16 epochs. ``overrides`` replace any entry."""
    if str(cell).lower() not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(CELLS)}")
    fast = _config.is_fast() if fast is None else bool(fast)
    cfg = {"data": "mnist", "cell": str(cell).lower(), "hidden_size": int(hidden_size),
           "num_layers": 1, "train_size": 5000 if fast else None,
           "test_size": 1000 if fast else None, "epochs": 3 if fast else 16,
           "optimizer": "adam", "lr": 1e-3, "batch_size": 64 if fast else 128, "scheduler": "cosine",
           "max_grad_norm": 1.0, "seed": 0}
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown recipe entries {sorted(unknown)}; expected some of {sorted(cfg)}")
    cfg.update(overrides)
    return cfg


def train_or_load_mnist(cfg: dict, train=None, test=None, progress: bool = True):
    """``(model, history)`` for the recipe ``cfg`` of :func:`mnist_config`, from the cache or
    trained now (chapter 7). ``train``/``test`` must match the recipe's sizes when given."""
    name = f"ch07-{cfg['cell']}-h{cfg['hidden_size']}-l{cfg['num_layers']}"

    def build():
        _config.seed_everything(cfg["seed"])
        return RowRNN(cfg["cell"], cfg["hidden_size"], cfg["num_layers"])

    def fit(model):
        tr = train if train is not None else _data.load(cfg["data"], "train", subset=cfg["train_size"],
                                                        seed=cfg["seed"])
        te = test if test is not None else _data.load(cfg["data"], "test", subset=cfg["test_size"],
                                                      seed=cfg["seed"])
        for d, size, split in ((tr, cfg["train_size"], "train"), (te, cfg["test_size"], "test")):
            if size is not None and len(d) != size:
                raise ValueError(f"the recipe asks for {size} {split} images, got {len(d)}")
        return _train.fit(model, tr, te, epochs=cfg["epochs"], optimizer=cfg["optimizer"],
                          lr=cfg["lr"], batch_size=cfg["batch_size"], scheduler=cfg["scheduler"],
                          max_grad_norm=cfg["max_grad_norm"], seed=cfg["seed"],
                          progress=progress, desc=name)

    return _cache.train_or_load(name, cfg, build, fit)
