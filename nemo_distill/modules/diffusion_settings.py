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

"""Read and check a model config's ``diffusion`` section once, for every model of this package."""

from dataclasses import dataclass
from typing import Optional

import torch
from omegaconf import DictConfig, OmegaConf

from nemo_distill.diffusion import SAMPLERS, check_parameterization, get_schedule, loss_weight

__all__ = ["DiffusionSettings", "schedule_from_config"]


def schedule_from_config(schedule: DictConfig):
    """A ``schedule`` config section (``name`` + its arguments) -> the schedule object."""
    kwargs = OmegaConf.to_container(schedule, resolve=True)
    return get_schedule(kwargs.pop("name"), **kwargs)


@dataclass
class DiffusionSettings:
    """The schedule object and the checked names of a ``diffusion`` config section.

    Keys: ``schedule`` (``name`` + its arguments), ``parameterization``, ``weighting``, ``weighting_gamma``
    (default 5), ``sampler`` (default ``ddim``), ``default_steps``, ``temperature`` (scale of the starting noise,
    default 1), ``t_start`` (where sampling starts, default 1: pure noise) and ``layer_budget`` (residual blocks per
    denoiser call, default null: all).
    """

    schedule: object
    parameterization: str
    weighting: str
    weighting_gamma: float
    sampler: str
    default_steps: int
    temperature: float = 1.0
    t_start: float = 1.0
    layer_budget: Optional[int] = None

    @classmethod
    def from_config(cls, diffusion: DictConfig) -> "DiffusionSettings":
        schedule = schedule_from_config(diffusion.schedule)
        gamma = float(diffusion.get("weighting_gamma", 5.0))
        loss_weight(diffusion.weighting, torch.zeros(1), gamma)  # raises ValueError naming the valid options
        sampler = diffusion.get("sampler", "ddim")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; valid options: {sorted(SAMPLERS)}")
        temperature = float(diffusion.get("temperature", 1.0))
        if not temperature > 0:
            raise ValueError(f"diffusion.temperature must be > 0, got {temperature}")
        layer_budget = diffusion.get("layer_budget")
        if layer_budget is not None and (isinstance(layer_budget, bool) or not isinstance(layer_budget, int)
                                         or layer_budget < 1):
            raise ValueError(f"diffusion.layer_budget must be null (all blocks) or an integer >= 1, got "
                             f"{layer_budget!r}")
        return cls(schedule, check_parameterization(diffusion.parameterization), diffusion.weighting, gamma, sampler,
                   int(diffusion.default_steps), temperature, float(diffusion.get("t_start", 1.0)), layer_budget)
