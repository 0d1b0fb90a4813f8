# Copyright (c) 2026, The nemo_distill authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Two-dimensional toy distributions for checking diffusion samplers and distillation in seconds."""

import math

import torch

__all__ = ["TOY_DATASETS", "sample_toy"]


def _eight_gaussians(n: int, generator: torch.Generator, radius: float = 2.0, std: float = 0.1) -> torch.Tensor:
    angles = torch.arange(8) * (2 * math.pi / 8)
    centers = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    which = torch.randint(0, 8, (n,), generator=generator)
    return centers[which] + std * torch.randn(n, 2, generator=generator)


def _two_moons(n: int, generator: torch.Generator, std: float = 0.08) -> torch.Tensor:
    upper = torch.rand(n, generator=generator) < 0.5
    angle = math.pi * torch.rand(n, generator=generator)
    x = torch.where(upper, angle.cos(), 1.0 - angle.cos())
    y = torch.where(upper, angle.sin(), 0.5 - angle.sin())
    points = torch.stack([x - 0.5, y - 0.25], dim=1) * 1.5
    return points + std * torch.randn(n, 2, generator=generator)


TOY_DATASETS = {"eight_gaussians": _eight_gaussians, "two_moons": _two_moons}


def sample_toy(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` points ``[n, 2]`` of the named toy distribution, reproducible from ``seed``."""
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy dataset {name!r}; valid options: {sorted(TOY_DATASETS)}")
    return TOY_DATASETS[name](n, torch.Generator().manual_seed(seed))
