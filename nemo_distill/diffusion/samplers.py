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

"""Samplers for variance-preserving diffusion, written in log-SNR.

Every sampler has the same contract (after k-diffusion's ``sample_*`` functions)::

    sample_xxx(x0_eps_fn, z, log_snrs, *, generator=None, callback=None, disable=True, ...) -> x0 [B, ...]

``x0_eps_fn(z_t, log_snr) -> (x0_pred, eps_pred)`` with ``log_snr`` of shape ``[B]``; ``log_snrs`` is the
``[steps + 1]`` grid from :func:`~nemo_distill.diffusion.schedules.sampling_log_snrs` (increasing, ending at
``+inf``); ``z`` is the starting noise ``[B, ...]``. ``callback`` receives a dict per step.
:func:`sample` is the public entry point that builds the ``x0_eps_fn`` from a model in any parameterization.
"""

from typing import Callable, Optional, Tuple

import torch
from tqdm.auto import trange

from nemo_distill.diffusion.parameterization import broadcast_to, check_parameterization, prediction_to_x0_eps
from nemo_distill.diffusion.schedules import alpha_sigma, get_schedule, sampling_log_snrs

__all__ = ["SAMPLERS", "ddim_step", "sample", "sample_ddim", "sample_ddpm", "sample_dpmpp_2m"]

X0EpsFn = Callable[[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]


def ddim_step(x0_pred: torch.Tensor, z_t: torch.Tensor, log_snr_t, log_snr_s) -> torch.Tensor:
    """Deterministic DDIM step t -> s (Song et al. 2021, eta = 0) from an x0 prediction.

    ``z_s = alpha_s * x0_pred + sigma_s * eps_hat`` with ``eps_hat = (z_t - alpha_t * x0_pred) / sigma_t``.
    ``log_snr_*`` are scalars or ``[B]``; a ``log_snr_s`` of ``+inf`` returns ``x0_pred``.
    """
    alpha_t, sigma_t = (broadcast_to(a, z_t) for a in alpha_sigma(torch.as_tensor(log_snr_t, dtype=z_t.dtype)))
    alpha_s, sigma_s = (broadcast_to(a, z_t) for a in alpha_sigma(torch.as_tensor(log_snr_s, dtype=z_t.dtype)))
    eps_hat = (z_t - alpha_t * x0_pred) / sigma_t
    return alpha_s * x0_pred + sigma_s * eps_hat


def _posterior_fraction(log_snr_t: torch.Tensor, log_snr_s: torch.Tensor) -> torch.Tensor:
    """``c = sigma_{t|s}**2 / sigma_t**2 = -expm1(log_snr_t - log_snr_s)``: how much of z_t's noise is fresh."""
    return -torch.expm1(log_snr_t - log_snr_s)


def _batched(log_snr: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return log_snr.expand(z.shape[0])


def _randn_like(z: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    return torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)


@torch.no_grad()
def sample_ddim(
    x0_eps_fn: X0EpsFn, z, log_snrs, *, eta: float = 0.0, generator=None, callback=None, disable=True
) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12). ``eta = 0`` is deterministic; ``eta = 1`` equals ancestral DDPM."""
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    for i in trange(len(log_snrs) - 1, disable=disable, desc="DDIM"):
        log_snr_t, log_snr_s = log_snrs[i], log_snrs[i + 1]
        x0_pred, eps_pred = x0_eps_fn(z, _batched(log_snr_t, z))
        alpha_s, sigma_s = alpha_sigma(log_snr_s)
        if eta > 0:
            noise_std = eta * sigma_s * _posterior_fraction(log_snr_t, log_snr_s).clamp(min=0).sqrt()
            noise_std = torch.minimum(noise_std, sigma_s)
            z = alpha_s * x0_pred + (sigma_s**2 - noise_std**2).clamp(min=0).sqrt() * eps_pred
            if noise_std > 0:
                z = z + noise_std * _randn_like(z, generator)
        else:  # deterministic: only ops ONNX has (an unrolled sampler is exported from this loop)
            z = alpha_s * x0_pred + sigma_s * eps_pred
        if callback is not None:
            callback({"i": i, "z": z, "x0_pred": x0_pred, "log_snr": log_snr_t})
    return z


@torch.no_grad()
def sample_ddpm(x0_eps_fn: X0EpsFn, z, log_snrs, *, generator=None, callback=None, disable=True) -> torch.Tensor:
    """Ancestral sampling from the DDPM posterior q(z_s | z_t, x0 = x0_pred) (Ho et al. 2020; Kingma et al. 2021).

    mean = alpha_s * ((1 - c) * z_t / alpha_t + c * x0_pred), variance = c * sigma_s**2, with c from
    :func:`_posterior_fraction`.
    """
    for i in trange(len(log_snrs) - 1, disable=disable, desc="DDPM"):
        log_snr_t, log_snr_s = log_snrs[i], log_snrs[i + 1]
        x0_pred, _ = x0_eps_fn(z, _batched(log_snr_t, z))
        alpha_t, _ = alpha_sigma(log_snr_t)
        alpha_s, sigma_s = alpha_sigma(log_snr_s)
        c = _posterior_fraction(log_snr_t, log_snr_s)
        z = alpha_s * ((1.0 - c) * z / alpha_t + c * x0_pred)
        if sigma_s > 0:
            z = z + (c * sigma_s**2).sqrt() * _randn_like(z, generator)
        if callback is not None:
            callback({"i": i, "z": z, "x0_pred": x0_pred, "log_snr": log_snr_t})
    return z


@torch.no_grad()
def sample_dpmpp_2m(x0_eps_fn: X0EpsFn, z, log_snrs, *, generator=None, callback=None, disable=True) -> torch.Tensor:
    """DPM-Solver++(2M), multistep second order in data prediction (Lu et al. 2022, Algorithm 2).

    Written in ``lambda = log(alpha / sigma) = log_snr / 2``; the first step and the step to ``sigma = 0`` are
    first order (as in k-diffusion's ``sample_dpmpp_2m``).
    """
    x0_prev, h_prev = None, None
    for i in trange(len(log_snrs) - 1, disable=disable, desc="DPM-Solver++(2M)"):
        log_snr_t, log_snr_s = log_snrs[i], log_snrs[i + 1]
        x0_pred, _ = x0_eps_fn(z, _batched(log_snr_t, z))
        _, sigma_t = alpha_sigma(log_snr_t)
        alpha_s, sigma_s = alpha_sigma(log_snr_s)
        h = 0.5 * (log_snr_s - log_snr_t)
        if x0_prev is None or torch.isinf(log_snr_s):
            x0_combined = x0_pred
        else:
            r = h_prev / h
            x0_combined = (1.0 + 1.0 / (2.0 * r)) * x0_pred - (1.0 / (2.0 * r)) * x0_prev
        # sigma_s / sigma_t * z - alpha_s * (exp(-h) - 1) * x0, with exp(-inf) = 0 at the clean end; the step's
        # scalar coefficient as a Python number, so an exported (unrolled) sampler holds it as a constant
        z = (sigma_s / sigma_t) * z - alpha_s * float(torch.expm1(-h)) * x0_combined
        x0_prev, h_prev = x0_pred, h
        if callback is not None:
            callback({"i": i, "z": z, "x0_pred": x0_pred, "log_snr": log_snr_t})
    return z


SAMPLERS = {"ddim": sample_ddim, "ddpm": sample_ddpm, "dpmpp_2m": sample_dpmpp_2m}


def make_x0_eps_fn(model_fn: Callable, parameterization: str) -> X0EpsFn:
    """Wrap ``model_fn(z_t, log_snr) -> prediction`` into ``x0_eps_fn(z_t, log_snr) -> (x0_pred, eps_pred)``."""
    check_parameterization(parameterization)

    def x0_eps_fn(z_t, log_snr):
        return prediction_to_x0_eps(model_fn(z_t, log_snr), z_t, log_snr, parameterization)

    return x0_eps_fn


def sample(
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    steps: int,
    *,
    schedule,
    parameterization: str,
    sampler: str = "ddim",
    eta: float = 0.0,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callable] = None,
    disable: bool = True,
    t_start: float = 1.0,
) -> torch.Tensor:
    """Draw samples ``[B, ...]`` by integrating from ``noise`` (``[B, ...]``, standard normal) in ``steps`` steps.

    Args:
        model_fn: ``model_fn(z_t, log_snr) -> prediction``, ``log_snr`` of shape ``[B]``, prediction in
            ``parameterization`` (``eps``, ``x0`` or ``v``). Conditioning and guidance are closed over in it
            (see :mod:`nemo_distill.diffusion.guidance`).
        steps: number of denoiser evaluations (integer >= 1).
        schedule: a schedule object (``t -> log_snr``) or its name (``cosine``, ``linear_beta``).
        sampler: ``ddim``, ``ddpm`` or ``dpmpp_2m``.
        eta: DDIM stochasticity (0 deterministic, 1 ancestral); only for ``ddim``.
        generator: random generator for stochastic samplers.
        t_start: where sampling starts (1 = pure noise). With ``t_start < 1`` (shallow diffusion), ``noise`` is
            taken to be ``z_{t_start}`` itself, e.g. ``alpha * prior + sigma * eps`` built by the caller.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid options: {sorted(SAMPLERS)}")
    if sampler != "ddim" and eta != 0.0:
        raise ValueError(f"eta is a DDIM option; sampler {sampler!r} does not take it")
    if isinstance(schedule, str):
        schedule = get_schedule(schedule)
    log_snrs = sampling_log_snrs(schedule, steps, device=noise.device, dtype=noise.dtype, t_start=t_start)
    x0_eps_fn = make_x0_eps_fn(model_fn, parameterization)
    kwargs = {"eta": eta} if sampler == "ddim" else {}
    return SAMPLERS[sampler](
        x0_eps_fn, noise, log_snrs, generator=generator, callback=callback, disable=disable, **kwargs
    )
