"""Recurrent classifiers that read an image row by row (chapter 7).

A 28x28 digit becomes a sequence of 28 time steps, each the 28 pixels of one row. A plain
RNN (tanh), an LSTM or a GRU reads the rows in order and the last hidden state of the top
layer is mapped to class logits.
"""
from __future__ import annotations

import torch
import torch.nn as nn

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
