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

"""Exact denoisers for data whose distribution is known in closed form."""

import torch

from nemo_distill.diffusion import alpha_sigma, target_from_x0_eps


def _scales(log_snr, like):
    alpha, sigma = alpha_sigma(log_snr)
    shape = (-1,) + (1,) * (like.ndim - 1)
    return alpha.reshape(shape).to(like.dtype), sigma.reshape(shape).to(like.dtype)


def gaussian_model_fn(mean: torch.Tensor, std: torch.Tensor, parameterization: str):
    """Optimal prediction for data N(mean, std^2) (per dimension): E[x0 | z_t] is linear in z_t."""

    def model_fn(z_t, log_snr):
        alpha, sigma = _scales(log_snr, z_t)
        x0 = mean + alpha * std**2 / (alpha**2 * std**2 + sigma**2) * (z_t - alpha * mean)
        eps = (z_t - alpha * x0) / sigma
        return target_from_x0_eps(x0, eps, log_snr, parameterization)

    return model_fn


def mixture_model_fn(means: torch.Tensor, std: float, parameterization: str, weights=None):
    """Optimal prediction for the 1-D mixture sum_k w_k N(means_k, std^2); data ``[B, 1]``."""
    weights = torch.full_like(means, 1.0 / len(means)) if weights is None else weights

    def model_fn(z_t, log_snr):
        alpha, sigma = _scales(log_snr, z_t)
        var = alpha**2 * std**2 + sigma**2
        log_resp = torch.log(weights) - (z_t - alpha * means) ** 2 / (2 * var)  # [B, K]
        resp = torch.softmax(log_resp, dim=1)
        x0_k = means + alpha * std**2 / var * (z_t - alpha * means)
        x0 = (resp * x0_k).sum(dim=1, keepdim=True)
        eps = (z_t - alpha * x0) / sigma
        return target_from_x0_eps(x0, eps, log_snr, parameterization)

    return model_fn


def mixture_log_posterior(means: torch.Tensor, std: float, label: int):
    """Exact log p(y = label | z_t) for the equal-weight mixture of :func:`mixture_model_fn`; returns ``[B]``."""

    def log_prob_fn(z_t, log_snr):
        alpha, sigma = _scales(log_snr, z_t)
        var = alpha**2 * std**2 + sigma**2
        log_lik = -((z_t - alpha * means) ** 2) / (2 * var)
        return torch.log_softmax(log_lik, dim=1)[:, label]

    return log_prob_fn


def whitened_noise(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    """Standard-normal noise ``[n, dim]`` whose sample mean is exactly 0 and sample std exactly 1."""
    noise = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (noise - noise.mean(0)) / noise.std(0)
