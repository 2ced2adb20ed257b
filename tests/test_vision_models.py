"""Model zoo: shapes on tiny batches, parameter counts against published numbers."""

from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm

from cgh_lib.errors import UserError
from cgh_lib.models.vision import MODEL_NAMES, build_vision_model, count_parameters, input_size


@pytest.mark.parametrize(
    "name, side",
    [("resnet32", 32), ("resnet18", 32), ("resnet50", 32), ("vgg13", 32), ("inception_v3", 75),
     ("small_cnn", 28)],
)
def test_output_shape_on_tiny_batch(name: str, side: int) -> None:
    model = build_vision_model(name, num_classes=7, seed=0).eval()
    c = input_size(name)[0]
    with torch.no_grad():
        out = model(torch.randn(2, c, side, side))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


def test_every_name_has_an_input_size() -> None:
    assert set(MODEL_NAMES) == {"resnet32", "resnet18", "resnet50", "vgg13", "inception_v3", "small_cnn"}
    assert input_size("resnet32") == (3, 32, 32)
    assert input_size("inception_v3") == (3, 299, 299)
    assert input_size("small_cnn") == (1, 28, 28)
    assert input_size("small_cnn", in_channels=3, image_size=32) == (3, 32, 32)


def test_small_cnn_colour_32() -> None:
    m = build_vision_model("small_cnn", 10, in_channels=3, image_size=32)
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_resnet32_parameter_count() -> None:
    a = count_parameters(build_vision_model("resnet32", 10))
    b = count_parameters(build_vision_model("resnet32", 10, shortcut="B"))
    assert 450_000 <= a <= 470_000 and a == 464_154  # option A: parameter-free shortcuts
    assert 450_000 <= b <= 470_000 and b > a  # option B adds two 1x1 projections + BN
    assert len([m for m in build_vision_model("resnet32", 10).modules()
                if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]) == 32


def test_imagenet_parameter_counts() -> None:
    assert count_parameters(build_vision_model("resnet18", 1000)) == 11_689_512
    assert count_parameters(build_vision_model("resnet50", 1000)) == 25_557_032
    # Published counts from torchvision's weight metadata (no download needed).
    vgg_bn = count_parameters(build_vision_model("vgg13", 1000))
    assert vgg_bn == tvm.VGG13_BN_Weights.IMAGENET1K_V1.meta["num_params"] == 133_053_736
    vgg = count_parameters(build_vision_model("vgg13", 1000, batch_norm=False))
    assert vgg == tvm.VGG13_Weights.IMAGENET1K_V1.meta["num_params"] == 133_047_848


def test_inception_without_aux_logits() -> None:
    ours = build_vision_model("inception_v3", 1000)
    assert getattr(ours, "AuxLogits", None) is None
    with_aux = tvm.inception_v3(weights=None, aux_logits=True, init_weights=True)
    published = tvm.Inception_V3_Weights.IMAGENET1K_V1.meta["num_params"]
    assert count_parameters(with_aux) == published == 27_161_264
    assert count_parameters(ours) == published - count_parameters(with_aux.AuxLogits) == 23_834_568


def test_seeded_init_is_reproducible_and_leaves_global_rng() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_vision_model("resnet32", 10, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    b = build_vision_model("resnet32", 10, seed=5)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_user_errors() -> None:
    with pytest.raises(UserError, match="resnet32"):
        build_vision_model("resnet33", 10)
    with pytest.raises(UserError, match="accepted"):
        input_size("alexnet")
    with pytest.raises(UserError, match="shortcut"):
        build_vision_model("resnet32", 10, shortcut="C")
    with pytest.raises(UserError, match="multiple of 4"):
        build_vision_model("small_cnn", 10, image_size=30)
    with pytest.raises(UserError, match="bad option"):
        build_vision_model("resnet18", 10, depth=3)
