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

from typing import Callable

import torch

from nemo_distill.diffusion import (
    alpha_sigma,
    check_parameterization,
    classifier_guidance,
    classifier_guided_x0,
    prediction_to_x0_eps,
    target_from_x0_eps,
)
from nemo_distill.diffusion.parameterization import broadcast_to


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


# -------------------------------------------------------------------------------- classifier guidance, any model
# A test reference: classifier guidance wrapped around a model of any parameterization, from the package's
# guidance formulas (classifier_guidance, classifier_guided_x0), with the gradient taken by autograd.
def _grad_log_prob(log_prob_fn, z_t: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        z = z_t.detach().requires_grad_(True)
        log_prob = log_prob_fn(z, log_snr)
        if log_prob.shape != z.shape[:1]:
            raise ValueError(f"log_prob_fn must return one log-probability per example [B], got "
                             f"{tuple(log_prob.shape)}")
        (grad,) = torch.autograd.grad(log_prob.sum(), z)
    return grad


def classifier_guided_model_fn(
    model_fn,
    log_prob_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    guidance_scale: float,
    parameterization: str,
):
    """Wrap ``model_fn`` (any parameterization) with classifier guidance from ``log_prob_fn(z_t, log_snr) -> [B]``.

    ``log_prob_fn`` returns ``log p(y | z_t)`` for the wanted class of each example; its gradient with respect
    to ``z_t`` is taken by autograd. The guided prediction is returned in the same parameterization.
    """
    check_parameterization(parameterization)

    def guided(z_t, log_snr):
        prediction = model_fn(z_t, log_snr)
        if guidance_scale == 0:
            return prediction
        x0_pred, eps_pred = prediction_to_x0_eps(prediction, z_t, log_snr, parameterization)
        guided_grad = guidance_scale * _grad_log_prob(log_prob_fn, z_t, log_snr)
        eps_guided = classifier_guidance(eps_pred, log_snr, guided_grad, 1.0)
        if parameterization == "eps":
            return eps_guided
        x0_guided = classifier_guided_x0(x0_pred, eps_pred, log_snr, guided_grad)
        if parameterization == "x0":
            return x0_guided
        alpha, sigma = (broadcast_to(a, z_t) for a in alpha_sigma(log_snr))
        return alpha * eps_guided - sigma * x0_guided

    return guided
