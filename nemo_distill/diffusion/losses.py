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

"""Training losses: forward noising and the weighted denoising loss."""

import torch

from nemo_distill.diffusion.parameterization import broadcast_to, prediction_to_x0_eps
from nemo_distill.diffusion.schedules import alpha_sigma
from nemo_distill.diffusion.weighting import loss_weight

__all__ = ["noise_data", "weighted_denoising_loss"]


def noise_data(x0: torch.Tensor, log_snr: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Forward process ``z_t = alpha * x0 + sigma * eps`` for ``x0``, ``eps`` ``[B, ...]`` and ``log_snr`` ``[B]``."""
    alpha, sigma = alpha_sigma(log_snr)
    return broadcast_to(alpha, x0) * x0 + broadcast_to(sigma, x0) * eps


def _per_example_mean(squared_error: torch.Tensor, mask=None) -> torch.Tensor:
    dims = tuple(range(1, squared_error.ndim))
    if mask is None:
        return squared_error.mean(dim=dims)
    mask = mask.to(squared_error.dtype).expand_as(squared_error)
    return (squared_error * mask).sum(dim=dims) / mask.sum(dim=dims).clamp(min=1.0)


def weighted_denoising_loss(
    prediction: torch.Tensor,
    z_t: torch.Tensor,
    log_snr: torch.Tensor,
    x0_target: torch.Tensor,
    parameterization: str,
    weighting: str,
    gamma: float = 5.0,
    mask=None,
) -> torch.Tensor:
    """``mean_B w(log_snr) * mean |x0_pred - x0_target|**2`` where ``x0_pred`` is read off ``prediction``.

    Used both to train a diffusion model (``x0_target`` is the data) and to distil one (``x0_target`` is the
    two-step teacher target). ``mask`` (broadcastable to ``[B, ...]``, 1 = valid) averages over valid frames only.
    """
    x0_pred, _ = prediction_to_x0_eps(prediction, z_t, log_snr, parameterization)
    error = _per_example_mean((x0_pred - x0_target) ** 2, mask)
    return (loss_weight(weighting, log_snr, gamma) * error).mean()
