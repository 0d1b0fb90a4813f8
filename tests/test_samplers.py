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

import pytest
import torch

from gaussian import gaussian_model_fn, whitened_noise
from nemo_distill.diffusion import CosineSchedule, LinearBetaSchedule, alpha_sigma, sample

MEAN = torch.tensor([1.5, -0.5], dtype=torch.float64)
STD = torch.tensor([0.5, 2.0], dtype=torch.float64)
SCHEDULES = {"cosine": CosineSchedule(), "linear_beta": LinearBetaSchedule()}


def start_from_marginal(noise, schedule):
    """z_1 with the exact marginal of the data at t = 1, which the linear-beta schedule keeps away from N(0, 1)
    (alpha_1 ~ 0.006): this separates the samplers' discretization error from the schedule's prior mismatch."""
    alpha, sigma = alpha_sigma(schedule(torch.tensor(1.0, dtype=torch.float64)))
    return alpha * MEAN + (alpha**2 * STD**2 + sigma**2).sqrt() * noise


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m"])
def test_deterministic_samplers_recover_gaussian(schedule, parameterization, sampler):
    # The probability-flow ODE maps whitened noise onto data with the exact mean and std, up to discretization.
    model_fn = gaussian_model_fn(MEAN, STD, parameterization)
    noise = start_from_marginal(whitened_noise(4096, 2), SCHEDULES[schedule])
    x = sample(model_fn, noise, 256, schedule=SCHEDULES[schedule],
               parameterization=parameterization, sampler=sampler)
    assert torch.allclose(x.mean(0), MEAN, atol=1e-4)
    # DDIM is first order (error 0.6% on cosine, 1.2% on linear-beta at 256 steps), DPM-Solver++(2M) second
    # order (~0.03%)
    assert torch.allclose(x.std(0), STD, rtol={"ddim": 1.5e-2, "dpmpp_2m": 1e-3}[sampler])


@pytest.mark.parametrize("sampler,min_ratio,max_ratio", [("ddim", 3.5, 4.5), ("dpmpp_2m", 8.0, 20.0)])
def test_convergence_order(sampler, min_ratio, max_ratio):
    # quadrupling the steps divides the error in the std by ~4 (first order) or ~16 (second order; measured ~10
    # at 64 -> 256 steps because the first and last steps of DPM-Solver++(2M) are first order)
    model_fn = gaussian_model_fn(MEAN, STD, "v")
    errors = []
    for steps in (64, 256):
        x = sample(model_fn, whitened_noise(1024, 2), steps, schedule=CosineSchedule(), parameterization="v",
                   sampler=sampler)
        errors.append((x.std(0) / STD - 1).abs().max().item())
    assert min_ratio < errors[0] / errors[1] < max_ratio


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
@pytest.mark.parametrize("sampler,eta", [("ddpm", 0.0), ("ddim", 1.0), ("ddim", 0.5)])
def test_stochastic_samplers_recover_gaussian(schedule, parameterization, sampler, eta):
    model_fn = gaussian_model_fn(MEAN, STD, parameterization)
    noise = torch.randn(20000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    noise = start_from_marginal(noise, SCHEDULES[schedule])
    x = sample(model_fn, noise, 256, schedule=SCHEDULES[schedule], parameterization=parameterization,
               sampler=sampler, eta=eta, generator=torch.Generator().manual_seed(2))
    # standard errors: STD / sqrt(20000) for the mean, ~0.5% relative for the std; allow ~5 of them
    assert torch.all((x.mean(0) - MEAN).abs() < 5 * STD / 20000**0.5)
    assert torch.allclose(x.std(0), STD, rtol=0.025)


def test_ddim_eta_zero_is_deterministic_and_seed_free():
    model_fn = gaussian_model_fn(MEAN, STD, "v")
    noise = whitened_noise(64, 2)
    runs = [sample(model_fn, noise, 16, schedule=CosineSchedule(), parameterization="v",
                   generator=torch.Generator().manual_seed(seed)) for seed in (0, 1)]
    assert torch.equal(runs[0], runs[1])


def test_ddim_eta_one_equals_ddpm_given_the_same_randomness():
    model_fn = gaussian_model_fn(MEAN, STD, "eps")
    noise = whitened_noise(256, 2)
    kwargs = dict(schedule=CosineSchedule(), parameterization="eps")
    ddim = sample(model_fn, noise, 32, sampler="ddim", eta=1.0, generator=torch.Generator().manual_seed(3), **kwargs)
    ddpm = sample(model_fn, noise, 32, sampler="ddpm", generator=torch.Generator().manual_seed(3), **kwargs)
    assert torch.allclose(ddim, ddpm, atol=1e-10)


def test_stochastic_sampler_depends_on_generator():
    model_fn = gaussian_model_fn(MEAN, STD, "v")
    noise = whitened_noise(64, 2)
    a, b = (sample(model_fn, noise, 16, schedule=CosineSchedule(), parameterization="v", sampler="ddpm",
                   generator=torch.Generator().manual_seed(seed)) for seed in (0, 1))
    assert not torch.allclose(a, b)


def test_dpm_solver_beats_ddim_at_few_steps():
    # second order: at 32 steps its error in the std is well below first-order DDIM's
    model_fn = gaussian_model_fn(MEAN, STD, "v")
    noise = whitened_noise(4096, 2)
    errors = {}
    for sampler in ("ddim", "dpmpp_2m"):
        x = sample(model_fn, noise, 32, schedule=CosineSchedule(), parameterization="v", sampler=sampler)
        errors[sampler] = (x.std(0) - STD).abs().max().item()
    assert errors["dpmpp_2m"] < 0.25 * errors["ddim"]


def test_callback_sees_every_step():
    seen = []
    sample(gaussian_model_fn(MEAN, STD, "x0"), whitened_noise(8, 2), 5, schedule=CosineSchedule(),
           parameterization="x0", callback=lambda info: seen.append(info["i"]))
    assert seen == [0, 1, 2, 3, 4]


def test_bad_sampler_arguments():
    model_fn = gaussian_model_fn(MEAN, STD, "v")
    noise = whitened_noise(8, 2)
    with pytest.raises(ValueError, match=r"unknown sampler 'euler'.*'ddim', 'ddpm', 'dpmpp_2m'"):
        sample(model_fn, noise, 4, schedule=CosineSchedule(), parameterization="v", sampler="euler")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        sample(model_fn, noise, 0, schedule=CosineSchedule(), parameterization="v")
    with pytest.raises(ValueError, match="eta is a DDIM option"):
        sample(model_fn, noise, 4, schedule=CosineSchedule(), parameterization="v", sampler="ddpm", eta=0.5)
    with pytest.raises(ValueError, match="unknown parameterization"):
        sample(model_fn, noise, 4, schedule=CosineSchedule(), parameterization="score")
    with pytest.raises(ValueError, match="unknown schedule"):
        sample(model_fn, noise, 4, schedule="quadratic", parameterization="v")


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m"])
def test_shallow_diffusion_from_exact_marginal(sampler):
    # starting at t_start < 1 from the exact marginal of z_{t_start} recovers the data distribution
    schedule = CosineSchedule()
    t_start = 0.4
    alpha, sigma = alpha_sigma(schedule(torch.tensor(t_start, dtype=torch.float64)))
    z_start = alpha * MEAN + (alpha**2 * STD**2 + sigma**2).sqrt() * whitened_noise(4096, 2)
    x = sample(gaussian_model_fn(MEAN, STD, "v"), z_start, 64, schedule=schedule, parameterization="v",
               sampler=sampler, t_start=t_start)
    assert torch.allclose(x.mean(0), MEAN, atol=1e-3)
    assert torch.allclose(x.std(0), STD, rtol=1e-2)


def test_bad_t_start():
    with pytest.raises(ValueError, match=r"t_start must be in \(0, 1\]"):
        sample(gaussian_model_fn(MEAN, STD, "v"), whitened_noise(8, 2), 4, schedule=CosineSchedule(),
               parameterization="v", t_start=1.5)
