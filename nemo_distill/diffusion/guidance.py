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

"""Guidance: classifier-free (Ho & Salimans 2022) and classifier gradient guidance (Dhariwal & Nichol 2021).

Both return a ``model_fn(z_t, log_snr) -> prediction`` that :func:`~nemo_distill.diffusion.samplers.sample` takes.
"""

from typing import Callable

import torch

from nemo_distill.diffusion.parameterization import broadcast_to
from nemo_distill.diffusion.schedules import alpha_sigma

__all__ = ["classifier_free_guidance", "classifier_guidance", "classifier_guided_x0", "cfg_model_fn"]

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def classifier_free_guidance(cond: torch.Tensor, uncond: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """``(1 + w) * cond - w * uncond``; ``w = 0`` is the conditional model. Linear, so valid on eps, v or x0."""
    return (1.0 + guidance_scale) * cond - guidance_scale * uncond


def cfg_model_fn(cond_fn: ModelFn, uncond_fn: ModelFn, guidance_scale: float) -> ModelFn:
    """A model function that applies classifier-free guidance to two model functions (one call each per step).

    ``guidance_scale = 0`` skips the unconditional call.
    """

    def model_fn(z_t, log_snr):
        cond = cond_fn(z_t, log_snr)
        if guidance_scale == 0:
            return cond
        return classifier_free_guidance(cond, uncond_fn(z_t, log_snr), guidance_scale)

    return model_fn


def classifier_guidance(
    eps_pred: torch.Tensor, log_snr: torch.Tensor, grad_log_prob: torch.Tensor, guidance_scale: float
) -> torch.Tensor:
    """``eps - gamma * sigma * grad_z log p(y | z_t)``: the eps of the score ``s + gamma * grad log p(y | z)``."""
    _, sigma = alpha_sigma(log_snr)
    return eps_pred - guidance_scale * broadcast_to(sigma, eps_pred) * grad_log_prob


def classifier_guided_x0(x0_pred: torch.Tensor, eps_pred: torch.Tensor, log_snr: torch.Tensor,
                         guided_grad: torch.Tensor) -> torch.Tensor:
    """The x0 that the guided noise ``eps - sigma * guided_grad`` implies (``guided_grad``: the guidance scale times
    ``grad_z log p(y | z_t)``, ``[B, ...]``): ``x0 - sigma / alpha * (eps_guided - eps)``."""
    alpha, sigma = (broadcast_to(a, x0_pred) for a in alpha_sigma(log_snr))
    eps_guided = classifier_guidance(eps_pred, log_snr, guided_grad, 1.0)
    return x0_pred - sigma / alpha * (eps_guided - eps_pred)
