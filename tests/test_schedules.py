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

import math

import pytest
import torch

from nemo_distill.diffusion import CosineSchedule, LinearBetaSchedule, alpha_sigma, get_schedule, sampling_log_snrs


def test_cosine_endpoints_and_monotone():
    schedule = CosineSchedule(-12.0, 9.0)
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    log_snr = schedule(t)
    assert log_snr[0].item() == pytest.approx(9.0, abs=1e-9)
    assert log_snr[-1].item() == pytest.approx(-12.0, abs=1e-9)
    assert torch.all(log_snr[1:] < log_snr[:-1])


def test_cosine_matches_cos_squared_alpha_bar_in_the_middle():
    # untruncated cosine schedule: alpha^2 = cos^2(pi t / 2), i.e. log_snr = -2 log tan(pi t / 2)
    schedule = CosineSchedule(-40.0, 40.0)
    t = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
    alpha, _ = alpha_sigma(schedule(t))
    assert torch.allclose(alpha**2, torch.cos(math.pi * t / 2) ** 2, atol=1e-8)


def test_alpha_sigma_variance_preserving_and_limits():
    log_snr = torch.linspace(-20, 20, 41, dtype=torch.float64)
    alpha, sigma = alpha_sigma(log_snr)
    assert torch.allclose(alpha**2 + sigma**2, torch.ones_like(alpha))
    assert torch.allclose(torch.log(alpha**2 / sigma**2), log_snr)
    alpha, sigma = alpha_sigma(torch.tensor([math.inf, -math.inf]))
    assert alpha.tolist() == [1.0, 0.0] and sigma.tolist() == [0.0, 1.0]


def test_linear_beta_matches_discrete_ddpm():
    schedule = LinearBetaSchedule(1e-4, 0.02, 1000)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0)
    discrete_log_snr = torch.log(alpha_bar / (1 - alpha_bar))
    index = torch.tensor([0, 9, 99, 499, 999])
    t = index.double() / 999  # step i of T (1-based i = index + 1) sits at t = index / (T - 1)
    assert torch.allclose(schedule(t), discrete_log_snr[index], atol=0.15)
    # t = 0 is DDPM's first step: alpha_bar = 1 - beta_1 (continuous integral of beta vs discrete sum: ~0.1)
    assert schedule.log_snr_max == pytest.approx(math.log(0.9999 / 1e-4), abs=0.15)


def test_sampling_grid_ends_clean():
    grid = sampling_log_snrs(CosineSchedule(), 4)
    assert grid.shape == (5,)
    assert grid[0].item() == pytest.approx(-15.0, abs=1e-4)
    assert math.isinf(grid[-1].item()) and grid[-1] > 0
    assert torch.all(grid[1:] > grid[:-1])


@pytest.mark.parametrize("bad", [dict(log_snr_min=5.0, log_snr_max=5.0), dict(log_snr_min=10.0, log_snr_max=-10.0)])
def test_cosine_rejects_min_not_below_max(bad):
    with pytest.raises(ValueError, match="log_snr_min"):
        CosineSchedule(**bad)


def test_unknown_schedule_names_options():
    with pytest.raises(ValueError, match=r"unknown schedule 'sigmoid'.*cosine.*linear_beta"):
        get_schedule("sigmoid")


@pytest.mark.parametrize("steps", [0, -3, 2.5])
def test_bad_step_counts(steps):
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        sampling_log_snrs(CosineSchedule(), steps)
