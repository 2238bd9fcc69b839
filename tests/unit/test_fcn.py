"""FCN-32 / FCN-16 / FCN-8 on the zoo encoders (chapter 11)."""
import pytest
import torch
import torch.nn.functional as F

from course_utils.models import fcn
from course_utils.models.zoo import SmallAlexNet, VGGNet


@pytest.mark.parametrize("encoder", ["vgg", "alexnet"])
@pytest.mark.parametrize("head", ["fcn32", "fcn16", "fcn8"])
def test_output_has_the_input_spatial_shape(encoder, head):
    torch.manual_seed(0)
    model = fcn.build_fcn(encoder, head, num_classes=5, fc_width=32)
    for size in (32, 64):
        out = model(torch.rand(2, 1, size, size))
        assert out.shape == (2, 5, size, size)
    out = model(torch.rand(1, 1, 32, 96))  # not square
    assert out.shape == (1, 5, 32, 96)


def test_strides_match_the_vgg16_names():
    m = fcn.build_fcn("vgg", "fcn8")
    assert m.encoder.strides == (2, 4, 8, 16, 32)  # pool3 at 8, pool4 at 16, pool5 at 32
    assert m.out_stride == 8 and fcn.build_fcn("vgg", "fcn16").out_stride == 16
    assert fcn.build_fcn("vgg", "fcn32").out_stride == 32
    assert fcn.build_fcn("alexnet", "fcn8").encoder.strides == (2, 4, 8)


def test_upsampler_is_bilinear_interpolation():
    for factor in (2, 4, 8):
        up = fcn.upsampler(3, factor)
        x = torch.rand(2, 3, 6, 6)
        ours = up(x)
        ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
        inner = slice(factor, -factor)  # borders differ: zero padding vs edge clamping
        torch.testing.assert_close(ours[..., inner, inner], ref[..., inner, inner], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        fcn.upsampler(3, 3)


def test_skip_scores_start_at_zero_and_all_parameters_learn():
    torch.manual_seed(0)
    m = fcn.build_fcn("vgg", "fcn8", num_classes=4, fc_width=16, widths=(8, 8, 8, 8, 8))
    assert len(m.score_skips) == 2
    assert all(float(c.weight.detach().abs().sum()) == 0 for c in m.score_skips)
    x, y = torch.rand(2, 1, 32, 32), torch.randint(0, 4, (2, 32, 32))
    F.cross_entropy(m(x), y).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None]
    assert not missing, missing


def test_encoders_reuse_zoo_weights():
    vgg = VGGNet(widths=(8, 8, 16, 16, 16), convs_per_block=1)
    enc = fcn.vgg_encoder(vgg=vgg)
    assert enc.stages[0] is vgg.blocks[0] and enc.strides == vgg.block_strides
    alex = SmallAlexNet()
    enc = fcn.alexnet_encoder(alexnet=alex)
    assert enc.channels == (32, 64, 64)
    assert sum(p.numel() for p in enc.parameters()) == sum(p.numel() for p in alex.features.parameters())
    x = torch.rand(1, 1, 32, 32)
    torch.testing.assert_close(enc(x)[-1], alex.features(x))


def test_bad_input_is_explained():
    m = fcn.build_fcn("vgg", "fcn8", fc_width=8)
    with pytest.raises(ValueError, match="divisible"):
        m(torch.rand(1, 1, 40, 40))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        m(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="head"):
        fcn.build_fcn("vgg", "fcn4")
    with pytest.raises(ValueError, match="encoder"):
        fcn.build_fcn("resnet")


@pytest.mark.parametrize("encoder", ["vgg", "alexnet"])
def test_unet_scores_every_pixel_and_every_part_learns(encoder):
    torch.manual_seed(0)
    model = fcn.build_unet(encoder, num_classes=5, width=0.5)
    assert model.out_stride == 1
    out = model(torch.rand(2, 1, 32, 64))
    assert out.shape == (2, 5, 32, 64)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_unet_and_classifier_reject_bad_input():
    with pytest.raises(ValueError, match="divisible by its total stride 32"):
        fcn.build_unet("vgg")(torch.rand(1, 1, 48, 48))
    with pytest.raises(ValueError, match=r"expects \(N, 1, H, W\)"):
        fcn.build_unet("vgg")(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="unknown encoder"):
        fcn.EncoderClassifier("resnet")
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        fcn.build_unet("vgg", num_classes=1)


def test_a_pretrained_encoder_carries_over_by_name():
    from course_utils.models import load_matching

    torch.manual_seed(0)
    clf = fcn.EncoderClassifier("alexnet", num_classes=10)
    assert clf(torch.rand(3, 1, 32, 32)).shape == (3, 10)
    for target in (fcn.build_unet("alexnet"), fcn.build_fcn("alexnet", "fcn8")):
        copied = load_matching(target, clf.state_dict())
        assert copied and all(name.startswith("encoder.") for name in copied)
        assert len(copied) == len(clf.encoder.state_dict())
        x = torch.rand(2, 1, 32, 32)
        assert torch.equal(target.encoder(x)[-1], clf.encoder(x)[-1])
    with pytest.raises(ValueError, match="no tensor of the source matches"):
        load_matching(fcn.build_unet("vgg"), clf.state_dict(), {"encoder.": "nothing."})
