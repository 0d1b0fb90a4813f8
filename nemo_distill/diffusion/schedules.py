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

"""Noise schedules written in log-SNR on continuous time t in [0, 1] (variance preserving).

A schedule is a callable ``t -> log_snr``: t = 0 is (almost) clean data, t = 1 is (almost) pure noise.
``alpha**2 = sigmoid(log_snr)`` and ``sigma**2 = sigmoid(-log_snr)``, so ``alpha**2 + sigma**2 = 1``.
"""

import math
from typing import Tuple

import torch

__all__ = [
    "CosineSchedule",
    "LinearBetaSchedule",
    "SCHEDULES",
    "alpha_sigma",
    "get_schedule",
    "sampling_log_snrs",
]


def alpha_sigma(log_snr: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise scales of a variance-preserving process: ``(sqrt(sigmoid(l)), sqrt(sigmoid(-l)))``.

    ``log_snr = +inf`` gives exactly ``(1, 0)`` (clean data), ``-inf`` exactly ``(0, 1)``.
    """
    return torch.sigmoid(log_snr).sqrt(), torch.sigmoid(-log_snr).sqrt()


class CosineSchedule:
    """Cosine schedule (Nichol & Dhariwal 2021) in log-SNR, truncated to [log_snr_min, log_snr_max].

    ``log_snr(t) = -2 log tan(a t + b)`` with ``b = atan(exp(-log_snr_max / 2))`` and
    ``a = atan(exp(-log_snr_min / 2)) - b``, so ``log_snr(0) = log_snr_max`` and ``log_snr(1) = log_snr_min``.
    """

    def __init__(self, log_snr_min: float = -15.0, log_snr_max: float = 15.0):
        if not log_snr_min < log_snr_max:
            raise ValueError(f"log_snr_min ({log_snr_min}) must be smaller than log_snr_max ({log_snr_max})")
        self.log_snr_min = float(log_snr_min)
        self.log_snr_max = float(log_snr_max)
        self._b = math.atan(math.exp(-0.5 * self.log_snr_max))
        self._a = math.atan(math.exp(-0.5 * self.log_snr_min)) - self._b

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.get_default_dtype() if not torch.is_tensor(t) else None)
        return -2.0 * torch.log(torch.tan(self._a * t + self._b))

    def __repr__(self) -> str:
        return f"CosineSchedule(log_snr_min={self.log_snr_min}, log_snr_max={self.log_snr_max})"


class LinearBetaSchedule:
    """DDPM's linear-beta schedule (Ho et al. 2020) as a continuous-time log-SNR.

    The discrete schedule ``beta_i = linspace(beta_start, beta_end, num_timesteps)`` has
    ``log alpha_bar_i = sum_j log(1 - beta_j)``; its continuous limit (the VP-SDE of Song et al. 2021) is
    ``-log alpha_bar(u) = T (beta_start u + (beta_end - beta_start) u**2 / 2)`` for ``u`` in (0, 1].
    ``t`` in [0, 1] is mapped onto ``u = 1/T + (1 - 1/T) t`` so that ``t = 0`` is DDPM's first step
    (finite log-SNR, about 9.2 for the defaults) and ``t = 1`` its last, and
    ``log_snr = log(alpha_bar / (1 - alpha_bar)) = -log(expm1(-log alpha_bar))``.
    """

    def __init__(self, beta_start: float = 1e-4, beta_end: float = 0.02, num_timesteps: int = 1000):
        if not 0.0 < beta_start < beta_end < 1.0:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}")
        if num_timesteps < 2:
            raise ValueError(f"num_timesteps must be >= 2, got {num_timesteps}")
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        self.num_timesteps = int(num_timesteps)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.get_default_dtype() if not torch.is_tensor(t) else None)
        n = self.num_timesteps
        u = 1.0 / n + (1.0 - 1.0 / n) * t
        neg_log_alpha_bar = n * (self.beta_start * u + 0.5 * (self.beta_end - self.beta_start) * u**2)
        return -torch.log(torch.expm1(neg_log_alpha_bar))

    @property
    def log_snr_min(self) -> float:
        return float(self(torch.tensor(1.0, dtype=torch.float64)))

    @property
    def log_snr_max(self) -> float:
        return float(self(torch.tensor(0.0, dtype=torch.float64)))

    def __repr__(self) -> str:
        return (
            f"LinearBetaSchedule(beta_start={self.beta_start}, beta_end={self.beta_end}, "
            f"num_timesteps={self.num_timesteps})"
        )


SCHEDULES = {"cosine": CosineSchedule, "linear_beta": LinearBetaSchedule}


def get_schedule(name: str, **kwargs):
    """Build a schedule by name (``cosine`` or ``linear_beta``) with its keyword arguments."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid options: {sorted(SCHEDULES)}")
    return SCHEDULES[name](**kwargs)


def sampling_log_snrs(schedule, steps: int, device=None, dtype=torch.float32, t_start: float = 1.0) -> torch.Tensor:
    """The ``steps + 1`` log-SNR values a ``steps``-step sampler visits: ``t = t_start, ..., 0`` evenly spaced.

    ``t_start < 1`` is shallow diffusion (DiffSinger): sampling starts from a partly noised prior instead of noise.

    The last entry is ``+inf`` (clean data, alpha = 1, sigma = 0), so the final step of every sampler
    returns the model's denoised prediction, and a progressive-distillation target at s = 0 is the
    teacher's ``x0`` prediction. Returns a tensor of shape ``[steps + 1]``.
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not 0.0 < t_start <= 1.0:
        raise ValueError(f"t_start must be in (0, 1], got {t_start}")
    t = torch.linspace(float(t_start), 0.0, int(steps) + 1, dtype=torch.float64)
    log_snrs = schedule(t)
    log_snrs[-1] = math.inf
    return log_snrs.to(device=device, dtype=dtype)
