"""Read and check a model config's ``diffusion`` section once, for every model of this package."""

from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from nemo_distill.diffusion import SAMPLERS, check_parameterization, get_schedule, loss_weight

__all__ = ["DiffusionSettings"]


@dataclass
class DiffusionSettings:
    """The schedule object and the checked names of a ``diffusion`` config section.

    Keys: ``schedule`` (``name`` + its arguments), ``parameterization``, ``weighting``, ``weighting_gamma``
    (default 5), ``sampler`` (default ``ddim``), ``default_steps``.
    """

    schedule: object
    parameterization: str
    weighting: str
    weighting_gamma: float
    sampler: str
    default_steps: int

    @classmethod
    def from_config(cls, diffusion: DictConfig) -> "DiffusionSettings":
        schedule_kwargs = OmegaConf.to_container(diffusion.schedule, resolve=True)
        schedule = get_schedule(schedule_kwargs.pop("name"), **schedule_kwargs)
        gamma = float(diffusion.get("weighting_gamma", 5.0))
        loss_weight(diffusion.weighting, torch.zeros(1), gamma)  # raises ValueError naming the valid options
        sampler = diffusion.get("sampler", "ddim")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; valid options: {sorted(SAMPLERS)}")
        return cls(schedule, check_parameterization(diffusion.parameterization), diffusion.weighting, gamma, sampler,
                   int(diffusion.default_steps))
