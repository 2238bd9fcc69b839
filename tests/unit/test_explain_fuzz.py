"""Fuzzing every explain method over shapes, dtypes, targets and NaN (hypothesis): each call
either returns a finite result of the right shape or raises a clear error (a ValueError or
TypeError raised inside course_utils); never a raw torch error."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_explain_validation import METHODS, PACKAGE, tiny_net  # noqa: E402

DTYPES = [torch.float64, torch.float16, torch.uint8, torch.int64, torch.bool]
SHAPES = [(0, 1, 8, 8), (2, 3, 8, 8), (2, 1, 12, 12), (2, 1, 3, 3), (1, 8, 8), (2, 1, 1, 8, 8)]
BAD_TARGETS = st.one_of(st.integers(-3, -1), st.integers(3, 10**6), st.lists(st.integers(-1, 3)),
                        st.floats(allow_nan=True), st.booleans(), st.just("cat"),
                        st.lists(st.lists(st.integers(0, 2), min_size=1), min_size=1))
FAULTS = ["shape", "dtype", "nonfinite", "target"]


@st.composite
def cases(draw):
    """``(x, target)``: a valid batch and target for the tiny model, with each fault (a bad
    shape, dtype, a NaN or inf, a bad target) applied or not: about half of them are valid."""
    faults = draw(st.just([]) | st.lists(st.sampled_from(FAULTS), min_size=1, max_size=3, unique=True))
    n = draw(st.integers(1, 3))
    shape = draw(st.sampled_from(SHAPES)) if "shape" in faults else (n, 1, 8, 8)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 9))))
    if "nonfinite" in faults and x.numel():
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from(
            [float("nan"), float("inf"), -float("inf")]))
    if "dtype" in faults:
        x = (x * 255).to(draw(st.sampled_from(DTYPES)))
    good = st.one_of(st.none(), st.integers(0, 2), st.lists(st.integers(0, 2), min_size=n, max_size=n),
                     st.builds(torch.tensor, st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    target = draw(BAD_TARGETS if "target" in faults else good)
    return x, target


NET = tiny_net()


@pytest.mark.parametrize("name", list(METHODS))
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(case=cases())
def test_clear_error_or_finite_result(name, case):
    x, target = case
    if target is None and name.endswith("_channel") or name == "featviz" and target is None:
        target = 0                       # a channel is required there
    try:
        result, shape = METHODS[name](NET, x, target)
    except (ValueError, TypeError) as e:
        tb = e.__traceback__
        while tb.tb_next:
            tb = tb.tb_next
        where = tb.tb_frame.f_code.co_filename
        assert where.startswith(str(PACKAGE)), f"raised outside course_utils, in {where}: {e}"
        assert str(e)
        return
    assert tuple(result.shape) == tuple(shape)
    assert torch.isfinite(result).all()
