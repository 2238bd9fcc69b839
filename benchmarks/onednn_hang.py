"""Where oneDNN's convolution backward pass crashes or hangs on the CPU, case by case.

Each case trains one tiny layer (or chapter 2's smallest ResNet) for 10 steps in a fresh
subprocess with a timeout, under each oneDNN instruction set (``ONEDNN_MAX_CPU_ISA``: the
machine's best, and AVX2, which is what an AVX2-only CPU runs natively) and 1 and 2 threads,
and prints ``ok``, ``crash (signal)`` or ``hang`` for each. On an AVX2-only CPU the "native"
column is the AVX2 column. Run: ``python benchmarks/onednn_hang.py [--timeout 20]``.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

CASES = {
    # name: (what it runs, in one line of Python after the prelude)
    "1x1 s2, 4 ch, channels_last": "layer(4, 8, 1, 2, cl=True)",
    "1x1 s2, 7 ch, channels_last": "layer(7, 8, 1, 2, cl=True)",
    "1x1 s2, 8 ch, channels_last": "layer(8, 16, 1, 2, cl=True)",
    "1x1 s1, 4 ch, channels_last": "layer(4, 8, 1, 1, cl=True)",
    "3x3 s2, 4 ch, channels_last": "layer(4, 8, 3, 2, cl=True)",
    "1x1 s2, 4 ch, NCHW": "layer(4, 8, 1, 2, cl=False)",
    "1x1 s2, 4 ch, channels_last, oneDNN off": "layer(4, 8, 1, 2, cl=True, onednn=False)",
    "ResNet(4, 8), 1-ch batch, ambiguous strides": "resnet(ambiguous=True)",
    "ResNet(4, 8), 1-ch batch, NCHW (augment.nchw)": "resnet(ambiguous=False)",
}

PRELUDE = """
import faulthandler, sys, torch, torch.nn as nn
faulthandler.enable()
torch.manual_seed(0)
def steps(model, x):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(10):
        loss = model(x).float().pow(2).mean(); opt.zero_grad(); loss.backward(); opt.step()
def layer(cin, cout, k, stride, cl, onednn=True):
    torch.backends.mkldnn.enabled = onednn
    m = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
    x = torch.randn(32, cin, 28, 28)
    if cl:
        m, x = m.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    steps(m, x)
def resnet(ambiguous):
    from course_utils.models import SmallResNet
    x = torch.rand(32, 28, 28, 1).permute(0, 3, 1, 2)      # strides (784, 1, 28, 1)
    if not ambiguous:
        from course_utils.data.augment import nchw
        x = nchw(x)                                         # strides (784, 784, 28, 1)
    steps(SmallResNet(widths=(4, 8)), x)
"""


def run_case(code: str, isa: str | None, threads: int, timeout: float) -> str:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    try:
        proc = subprocess.run([sys.executable, "-c", PRELUDE + code], env=env, timeout=timeout,
                              capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return "hang"
    if proc.returncode == 0:
        return "ok"
    if proc.returncode < 0:
        return f"crash ({signal.Signals(-proc.returncode).name})"
    return f"error (exit {proc.returncode})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a run counts as a hang")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    import torch
    print(f"torch {torch.__version__}, oneDNN {torch.backends.mkldnn.is_available() and 'on'}, "
          f"ATen kernels {torch.backends.cpu.get_cpu_capability()}")
    columns = [(isa, t) for isa in (None, "AVX2") for t in args.threads]
    head = ["case"] + [f"{isa or 'native'} / {t} thr" for isa, t in columns]
    print("| " + " | ".join(head) + " |\n|" + " --- |" * len(head))
    for name, code in CASES.items():
        cells = [run_case(code, isa, t, args.timeout) for isa, t in columns]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
