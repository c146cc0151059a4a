"""A fixed-seed, randomly initialised CNN: a torch backbone that needs no downloaded weights.

**This is not a learned feature.** Nothing may be downloaded at run time and no pretrained image
model ships in a package draqcore can depend on, so the torch-backbone rows of
``docs/results.md`` use this network: four convolution stages (3x3 convolutions, stride 2,
ReLU; 32, 64, 128, 256 channels) with He-normal weights drawn from a fixed seed and zero
biases, followed by global average pooling and 2 x 2 average pooling of the last stage
(256 + 1024 = 1280 dimensions). Random convolutional features are a standard *baseline* in the
literature (they keep coarse appearance and layout, they know no semantics); they stand in for
"a CNN's appearance features" here, not for NMS, BYOL or CARL.

``python -m draqcore.evaluation.random_backbone OUT.pt [--seed S]`` writes it as a TorchScript
file for ``draq eval ... --torch-model OUT.pt`` (any TorchScript image model works there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

__all__ = ["random_cnn", "save_random_cnn"]


def random_cnn(seed: int = 0) -> Any:
    """The network described in the module notes, in eval mode, weights from ``seed``.

    Returns
    -------
    torch.nn.Module
        Input ``(B, 3, H, W)`` float, output ``(B, 1280)``.
    """
    import torch
    from torch import nn

    class RandomCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            channels = [3, 32, 64, 128, 256]
            for cin, cout in zip(channels[:-1], channels[1:]):
                layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU()]
            self.body = nn.Sequential(*layers)
            self.grid = nn.AdaptiveAvgPool2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.body(x)
            return torch.cat([y.mean(dim=(2, 3)), self.grid(y).flatten(1)], dim=1)

    gen = torch.Generator().manual_seed(int(seed))
    model = RandomCNN()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                m.bias.zero_()
    return model.eval()


def save_random_cnn(path: Any, seed: int = 0) -> Path:
    """Write :func:`random_cnn` as TorchScript to ``path``; returns the path."""
    import warnings

    import torch

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript; it is still the one self-contained model file that
        # TorchImageExtractor loads without the defining code, so that format is used on purpose.
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        torch.jit.save(torch.jit.script(random_cnn(seed)), str(out))
    return out


def _main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m draqcore.evaluation.random_backbone", description=__doc__.splitlines()[0])
    p.add_argument("out", help="TorchScript file to write")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(save_random_cnn(args.out, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
