"""Convolutional model zoo for the WS paper (ImageNet and CIFAR-10 scale).

Which architecture each figure used, and why the defaults are what they are:

* ``resnet18`` (WS Figures 1-5), ``vgg13`` (Figure 7), ``inception_v3``
  (Figure 6): torchvision's definitions, as the paper (Appendix A) trained
  torchvision 0.4.2's models. Always randomly initialised: this module never
  loads pretrained weights.
* ``vgg13`` builds VGG-13 **with batch norm** by default. The paper only says
  "VGG-13", but the authors' trainer offers exactly ``resnet18``, ``vgg13_bn``
  and ``inception_v3``; plain VGG-13 (``batch_norm=False``) is also notoriously
  hard to train from lr 0.1 without BN. Both variants are available.
* ``inception_v3`` has no auxiliary classifier (Appendix A: "did not use
  auxiliary logits") and torchvision's own weight init (``init_weights=True``).
* ``resnet50``: not in the paper; offered for users who want a bigger ResNet.
* ``resnet32`` (Appendix B, Figure 8): the CIFAR ResNet of He et al. (2016,
  §4.2): a 3x3 stem with 16 channels, then 3 stages of 5 basic blocks with
  16/32/64 channels, global average pooling and a linear classifier (6*5+2 = 32
  layers). Shortcuts default to **option A** (identity, with stride-2
  subsampling and zero-padded extra channels, parameter-free), which is what He
  et al. used on CIFAR and gives the familiar 0.46M parameters; option B (1x1
  conv + BN projection when the shape changes) is available. The WS paper does
  not say which; we assume A.
* ``small_cnn``: a small, BN-free conv net for CPU "small" profiles (28x28 grey
  or 32x32 colour). BN-free on purpose: its DDP result equals a single-process
  run exactly, which BatchNorm (statistics per rank) would not.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tvm

from cgh_lib.errors import UserError, choice_error

__all__ = [
    "MODEL_NAMES",
    "build_vision_model",
    "input_size",
    "count_parameters",
    "CifarResNet",
    "SmallCNN",
]


# ---------------------------------------------------------------- CIFAR ResNet
class _BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut_kind = shortcut
        self.stride = stride
        self.pad = c_out - c_in
        self.proj: nn.Module | None = None
        if shortcut == "B" and (stride != 1 or c_in != c_out):
            self.proj = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            return self.proj(x)
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad > 0:  # option A: zero channels, split on both sides
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self._shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs; n=5 gives ResNet-32."""

    def __init__(
        self, num_classes: int = 10, n: int = 5, widths: tuple[int, int, int] = (16, 32, 64),
        shortcut: str = "A", in_channels: int = 3,
    ) -> None:
        super().__init__()
        if shortcut not in ("A", "B"):
            raise choice_error("resnet32 shortcut option", shortcut, ("A", "B"))
        self.conv = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        blocks: list[nn.Module] = []
        c_in = widths[0]
        for stage, c_out in enumerate(widths):
            for i in range(n):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(_BasicBlock(c_in, c_out, stride, shortcut))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():  # He et al.: "we initialize the weights as in [13]"
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


# ------------------------------------------------------------------ small CNN
class SmallCNN(nn.Module):
    """conv(3x3)-ReLU-pool, twice, then a 2-layer MLP head. No BatchNorm."""

    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
        width: int = 32, hidden: int = 128,
    ) -> None:
        super().__init__()
        if image_size < 4 or image_size % 4 != 0:
            raise UserError(
                f"small_cnn image_size {image_size!r} is not usable; accepted: a multiple of 4 (e.g. 28 or 32)"
            )
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * side * side, hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# ------------------------------------------------------------------- registry
def _resnet32(num_classes: int, shortcut: str = "A", in_channels: int = 3) -> nn.Module:
    return CifarResNet(num_classes, n=5, shortcut=shortcut, in_channels=in_channels)


def _resnet18(num_classes: int) -> nn.Module:
    return tvm.resnet18(weights=None, num_classes=num_classes)


def _resnet50(num_classes: int) -> nn.Module:
    return tvm.resnet50(weights=None, num_classes=num_classes)


def _vgg13(num_classes: int, batch_norm: bool = True) -> nn.Module:
    ctor = tvm.vgg13_bn if batch_norm else tvm.vgg13
    return ctor(weights=None, num_classes=num_classes)


def _inception_v3(num_classes: int) -> nn.Module:
    return tvm.inception_v3(
        weights=None, num_classes=num_classes, aux_logits=False, init_weights=True,
        transform_input=False,
    )


def _small_cnn(num_classes: int, in_channels: int = 1, image_size: int = 28, width: int = 32,
               hidden: int = 128) -> nn.Module:
    return SmallCNN(num_classes, in_channels, image_size, width, hidden)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "resnet32": _resnet32,
    "resnet18": _resnet18,
    "resnet50": _resnet50,
    "vgg13": _vgg13,
    "inception_v3": _inception_v3,
    "small_cnn": _small_cnn,
}
MODEL_NAMES: tuple[str, ...] = tuple(_BUILDERS)

# (channels, height, width) each model is meant to see. The ImageNet nets use
# adaptive pooling, so smaller inputs also run (useful on CPU); Inception-V3
# needs at least 75x75.
_INPUT_SIZES: dict[str, tuple[int, int, int]] = {
    "resnet32": (3, 32, 32),
    "resnet18": (3, 224, 224),
    "resnet50": (3, 224, 224),
    "vgg13": (3, 224, 224),
    "inception_v3": (3, 299, 299),
}
MIN_INPUT_SIDE: dict[str, int] = {"inception_v3": 75, "resnet32": 8, "resnet18": 32,
                                  "resnet50": 32, "vgg13": 32}


def _check_name(name: str) -> None:
    if name not in _BUILDERS:
        raise choice_error("vision model", name, MODEL_NAMES)


def input_size(name: str, **kw: Any) -> tuple[int, int, int]:
    """Expected (C, H, W) input of model ``name`` (``small_cnn`` reads its kwargs)."""
    _check_name(name)
    if name == "small_cnn":
        side = int(kw.get("image_size", 28))
        return (int(kw.get("in_channels", 1)), side, side)
    if name == "resnet32" and "in_channels" in kw:
        return (int(kw["in_channels"]), 32, 32)
    return _INPUT_SIZES[name]


def build_vision_model(name: str, num_classes: int, seed: int | None = None, **kw: Any) -> nn.Module:
    """Build a randomly initialised model by name.

    ``seed`` makes the initialisation reproducible without disturbing the
    caller's global RNG stream (the draw happens inside ``fork_rng``). Extra
    keyword arguments go to the architecture: ``shortcut``/``in_channels`` for
    resnet32, ``batch_norm`` for vgg13, ``in_channels``/``image_size``/
    ``width``/``hidden`` for small_cnn; anything else is a UserError.
    """
    _check_name(name)
    if int(num_classes) < 1:
        raise UserError(f"num_classes {num_classes!r} is invalid; accepted: a positive integer")
    builder = _BUILDERS[name]
    try:
        if seed is None:
            return builder(int(num_classes), **kw)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return builder(int(num_classes), **kw)
    except TypeError as e:
        if "unexpected keyword" in str(e):
            raise UserError(f"bad option for vision model {name!r}: {e}") from None
        raise


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
