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

"""One typed, validated bundle of the call-time choices of a sampling run."""

import math
import numbers
from dataclasses import dataclass, field, fields, replace
from typing import Optional

import torch

from nemo_distill.diffusion.samplers import SAMPLERS

__all__ = ["SamplingOptions"]


@dataclass(frozen=True)
class SamplingOptions:
    """How to sample: every field is checked once, when the object is made.

    ``steps`` denoiser evaluations (per guidance branch) with ``sampler`` (``ddim``, ``ddpm``, ``dpmpp_2m``);
    ``guidance_scale`` ``w >= 0`` applies classifier-free guidance ``(1 + w) f(c) - w f(null)`` (two calls per step);
    ``temperature`` ``> 0`` scales the starting noise; ``t_start`` in ``(0, 1]`` is where sampling starts (``1`` from
    pure noise, ``< 1`` shallow diffusion from the prior noised to that level); ``eta`` ``>= 0`` is DDIM's stochasticity;
    ``seed`` makes the noise reproducible, or ``noise`` ``[B, n_mels, >= T]`` gives it explicitly; ``layer_budget``
    ``>= 1`` runs only that many of the denoiser's residual blocks per call (the denoiser checks the upper bound).
    ``None`` means "the model's default" (:meth:`with_defaults` fills those in).
    """

    steps: Optional[int] = None
    sampler: Optional[str] = None
    guidance_scale: float = 0.0
    temperature: Optional[float] = None
    t_start: Optional[float] = None
    eta: float = 0.0
    seed: Optional[int] = None
    layer_budget: Optional[int] = None
    noise: Optional[torch.Tensor] = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        for name in ("steps", "seed", "layer_budget"):  # numpy integers are accepted and stored as int
            value = getattr(self, name)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                object.__setattr__(self, name, int(value))
        for name in ("guidance_scale", "temperature", "t_start", "eta"):
            value = getattr(self, name)
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                       or self.steps < 1):
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; valid options: {sorted(SAMPLERS)}")
        if not _finite(self.guidance_scale) or self.guidance_scale < 0:
            raise ValueError(f"guidance_scale must be a finite number >= 0, got {self.guidance_scale!r}")
        if self.temperature is not None and not (_finite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if self.t_start is not None and not (_finite(self.t_start) and 0 < self.t_start <= 1):
            raise ValueError(f"t_start must be in (0, 1] (1 = from pure noise), got {self.t_start!r}")
        if not _finite(self.eta) or self.eta < 0:
            raise ValueError(f"eta must be >= 0, got {self.eta!r}")
        if self.layer_budget is not None and (isinstance(self.layer_budget, bool)
                                              or not isinstance(self.layer_budget, int) or self.layer_budget < 1):
            raise ValueError(f"layer_budget must be an integer >= 1 (residual blocks per call), got "
                             f"{self.layer_budget!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if self.noise is not None and (not isinstance(self.noise, torch.Tensor) or self.noise.ndim != 3):
            raise ValueError("noise must be a tensor [B, n_mels, T_noise]")

    def with_defaults(self, defaults: "SamplingOptions") -> "SamplingOptions":
        """These options with every ``None`` field taken from ``defaults``."""
        return replace(self, **{f.name: getattr(defaults, f.name) for f in fields(self)
                                if getattr(self, f.name) is None and getattr(defaults, f.name) is not None})

    def generator(self, device) -> Optional[torch.Generator]:
        """A generator seeded with ``seed`` on ``device`` (None without a seed)."""
        return torch.Generator(device=device).manual_seed(self.seed) if self.seed is not None else None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
