"""Mass share and total variation of attribution maps (chapters 8 and 9), against values
worked out by hand."""
import pytest
import torch

from course_utils.explain.metrics import mass_share, total_variation


def test_total_variation_by_hand():
    dot = torch.zeros(1, 20, 20)
    dot[0, 5, 5] = 3.0                      # an isolated pixel: 4 differences of 3, total 3
    square = torch.zeros(1, 20, 20)
    square[0, 4:12, 4:12] = 1.0             # an 8x8 block: perimeter 32, total 64
    maps = torch.cat([dot, square, torch.full((1, 20, 20), 2.0)])
    assert torch.allclose(total_variation(maps), torch.tensor([2.0, 32 / 128, 0.0]))
    assert torch.allclose(total_variation(square * 7), total_variation(square))   # scale-free
    noisy = torch.rand(1, 20, 20, generator=torch.Generator().manual_seed(0))
    assert float(total_variation(noisy)) > float(total_variation(square))
    assert torch.isnan(total_variation(torch.zeros(1, 4, 4))).all()
    with pytest.raises(ValueError, match="non-negative"):
        total_variation(-square)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        total_variation(torch.zeros(4, 4))


def test_mass_share_by_hand():
    maps = torch.tensor([[[1.0, 3.0], [0.0, 4.0]]])
    left = torch.tensor([[[True, False], [True, False]]])
    assert torch.allclose(mass_share(maps, left), torch.tensor([1 / 8]))
    assert torch.allclose(mass_share(torch.ones(1, 4, 4), torch.ones(1, 4, 4).tril().bool()),
                          torch.tensor([10 / 16]))   # a flat map: the mask's share of the image
    with pytest.raises(ValueError, match="must match"):
        mass_share(maps, left[:, :1])
    with pytest.raises(ValueError, match="non-negative"):
        mass_share(-maps, left)
