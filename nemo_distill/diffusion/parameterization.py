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

"""What a denoiser predicts: ``eps`` (the noise), ``x0`` (the clean data) or ``v`` (Salimans & Ho 2022).

With ``z = alpha * x0 + sigma * eps`` and ``v = alpha * eps - sigma * x0``:
``x0 = alpha * z - sigma * v`` and ``eps = sigma * z + alpha * v``.
All functions take ``alpha``/``sigma`` (or ``log_snr``) of shape ``[B]`` and data of shape ``[B, ...]``.
"""

from typing import Tuple

import torch

from nemo_distill.diffusion.schedules import alpha_sigma

__all__ = [
    "PARAMETERIZATIONS",
    "broadcast_to",
    "check_parameterization",
    "prediction_to_x0_eps",
    "target_from_x0_eps",
]

PARAMETERIZATIONS = ("eps", "x0", "v")


def check_parameterization(parameterization: str) -> str:
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization {parameterization!r}; valid options: {list(PARAMETERIZATIONS)}")
    return parameterization


def broadcast_to(scale: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-example ``[B]`` (or scalar) tensor to ``[B, 1, ..., 1]`` so it broadcasts against ``like``."""
    scale = torch.as_tensor(scale, device=like.device, dtype=like.dtype)
    if scale.ndim == 0:
        return scale
    return scale.reshape(scale.shape[0], *([1] * (like.ndim - 1)))


def prediction_to_x0_eps(
    prediction: torch.Tensor, z_t: torch.Tensor, log_snr: torch.Tensor, parameterization: str
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Turn a model prediction into ``(x0_pred, eps_pred)``, both ``[B, ...]`` like ``z_t``.

    ``eps`` prediction at ``alpha ~ 0`` makes ``x0`` ill-conditioned (it divides by ``alpha``), ``x0``
    prediction at ``sigma ~ 0`` makes ``eps`` ill-conditioned; ``v`` is well conditioned at both ends.
    """
    check_parameterization(parameterization)
    alpha, sigma = alpha_sigma(log_snr.to(torch.float64) if z_t.dtype == torch.float64 else log_snr)
    alpha, sigma = broadcast_to(alpha, z_t), broadcast_to(sigma, z_t)
    if parameterization == "eps":
        eps_pred = prediction
        x0_pred = (z_t - sigma * eps_pred) / alpha
    elif parameterization == "x0":
        x0_pred = prediction
        eps_pred = (z_t - alpha * x0_pred) / sigma
    else:
        x0_pred = alpha * z_t - sigma * prediction
        eps_pred = sigma * z_t + alpha * prediction
    return x0_pred, eps_pred


def target_from_x0_eps(x0: torch.Tensor, eps: torch.Tensor, log_snr: torch.Tensor, parameterization: str):
    """The regression target of the named parameterization for data ``x0`` noised with ``eps`` at ``log_snr``."""
    check_parameterization(parameterization)
    if parameterization == "eps":
        return eps
    if parameterization == "x0":
        return x0
    alpha, sigma = alpha_sigma(log_snr)
    return broadcast_to(alpha, x0) * eps - broadcast_to(sigma, x0) * x0
