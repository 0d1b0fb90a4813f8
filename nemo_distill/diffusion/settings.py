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

"""A model config's ``diffusion`` section, read and checked once: the schedule, the training settings and the
sampling defaults. The sampling defaults are checked by :class:`~nemo_distill.diffusion.options.SamplingOptions`, the
one place a sampling setting is validated (call-time options and the config's defaults alike); the denoiser checks
the upper bound of a layer budget itself. Pure Python over any mapping (a ``DictConfig`` or a dict): no NeMo, no
OmegaConf.
"""

from dataclasses import dataclass
from typing import Mapping, Optional

import torch

from nemo_distill.diffusion.options import SamplingOptions
from nemo_distill.diffusion.parameterization import check_parameterization
from nemo_distill.diffusion.schedules import get_schedule
from nemo_distill.diffusion.weighting import loss_weight

__all__ = ["DiffusionSettings", "schedule_from_config"]


def schedule_from_config(schedule: Mapping):
    """A ``schedule`` config section (``name`` + its arguments) -> the schedule object."""
    kwargs = {key: schedule[key] for key in schedule}
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
    def from_config(cls, diffusion: Mapping) -> "DiffusionSettings":
        schedule = schedule_from_config(diffusion["schedule"])
        gamma = float(diffusion.get("weighting_gamma", 5.0))
        loss_weight(diffusion["weighting"], torch.zeros(1), gamma)  # raises ValueError naming the valid options
        try:
            defaults = SamplingOptions(steps=diffusion["default_steps"], sampler=diffusion.get("sampler", "ddim"),
                                       temperature=diffusion.get("temperature", 1.0),
                                       t_start=diffusion.get("t_start", 1.0),
                                       layer_budget=diffusion.get("layer_budget"))
        except ValueError as error:  # the same rule as at call time, named as the config's key
            raise ValueError(f"diffusion.{error}") from None
        return cls(schedule, check_parameterization(diffusion["parameterization"]), diffusion["weighting"], gamma,
                   defaults.sampler, defaults.steps, defaults.temperature, defaults.t_start, defaults.layer_budget)

    @property
    def sampling_defaults(self) -> SamplingOptions:
        """The configured sampling defaults as options (what ``None`` fields of a call's options become)."""
        return SamplingOptions(steps=self.default_steps, sampler=self.sampler, temperature=self.temperature,
                               t_start=self.t_start, layer_budget=self.layer_budget)
