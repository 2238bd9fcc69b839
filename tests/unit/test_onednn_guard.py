"""Guard: one training step of every network of the book, with its augmentation, in a
subprocess under 1 and 2 threads, torch's default kernels, and oneDNN limited to AVX2 (what an
AVX2-only CPU runs; that is where 1x1 stride-2 convolutions crash or hang in channels_last).
A crash or a hang fails this test with the subprocess's stacks instead of taking the suite down."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "guard_steps.py"
CONDITIONS = {
    "1 thread": {"OMP_NUM_THREADS": "1"},
    "2 threads": {"OMP_NUM_THREADS": "2"},
    "ATen default kernels": {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default"},
    "oneDNN AVX2, 1 thread": {"OMP_NUM_THREADS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "oneDNN AVX2, 2 threads": {"OMP_NUM_THREADS": "2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_every_network_trains_a_step(condition):
    env = dict(os.environ, **CONDITIONS[condition], PYTHONFAULTHANDLER="1")
    try:
        proc = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True,
                              text=True, timeout=240)
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        pytest.fail(f"hang under {condition}: no exit in 240 s; last networks done:\n{out[-1500:]}")
    done = [line for line in proc.stdout.splitlines() if line.startswith("ok ")]
    assert proc.returncode == 0, (
        f"crash under {condition} (exit {proc.returncode}) after {len(done)} networks:\n"
        f"{proc.stdout[-1500:]}\n{proc.stderr[-4000:]}")
    assert len(done) >= 20, proc.stdout
