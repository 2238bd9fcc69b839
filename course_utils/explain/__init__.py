"""Attribution and visualisation methods written from scratch (chapters 6, 8, 9 and 10),
and the sanity checks of attribution (chapter 9).

Shared rules: hooks live inside ``with`` blocks and are removed in ``finally``; the model's
train/eval mode and every parameter's ``requires_grad`` are restored on the way out;
gradients are taken with ``torch.autograd.grad`` so parameter ``.grad`` stays untouched, and
are switched on by each method itself (so all work inside ``torch.no_grad()``). Every
argument is checked by the one validation layer in :mod:`.common` (README, "Bad input").
"""
from .common import frozen_eval, relu_backward_rule  # noqa: F401
from .gradcam import GradCAM  # noqa: F401,E402
from .guided import GuidedBackprop, GuidedGradCAM  # noqa: F401,E402
from .ig import IntegratedGradients  # noqa: F401,E402
from .smoothgrad import SmoothGrad  # noqa: F401,E402
