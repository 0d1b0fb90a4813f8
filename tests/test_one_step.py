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

"""The one-step formulas (nemo_distill.diffusion.one_step): DMD's gradient and surrogate loss, backward simulation,
the consistency target."""

import math

import torch

from nemo_distill.diffusion import (
    CosineSchedule,
    consistency_target,
    ddim_step,
    distribution_matching_gradient,
    distribution_matching_loss,
    frame_mask,
    sample,
    sampling_log_snrs,
    simulate_steps,
)


def test_dmd_gradient_points_from_fake_to_real_normalised_per_example():
    x = torch.zeros(2, 3, 4)
    x0_real = torch.ones(2, 3, 4) * torch.tensor([1.0, 2.0])[:, None, None]
    x0_fake = -x0_real
    gradient = distribution_matching_gradient(x, x0_real, x0_fake)
    # (fake - real) / mean|x - real|: -2 r / r = -2 for both examples, whatever their scale
    assert torch.allclose(gradient, torch.full_like(x, -2.0), atol=1e-5)


def test_dmd_loss_puts_the_gradient_on_x_over_valid_elements_only():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, requires_grad=True)
    x0_real, x0_fake = torch.randn(2, 3, 6), torch.randn(2, 3, 6)
    mask = frame_mask(torch.tensor([6, 3]), 6)
    distribution_matching_loss(x, x0_real, x0_fake, mask).backward()
    expected = distribution_matching_gradient(x.detach(), x0_real, x0_fake, mask)
    valid = mask.expand_as(x).sum(dim=(1, 2)).float()  # per-example mean, then the batch mean
    assert torch.allclose(x.grad, expected / valid[:, None, None] / 2, atol=1e-6)
    assert torch.all(x.grad[1, :, 3:] == 0)
    # padding does not enter the normaliser: changing padded values leaves the gradient of the valid frames alone
    x0_real_padded = x0_real.clone()
    x0_real_padded[1, :, 3:] = 100.0
    again = distribution_matching_gradient(x.detach(), x0_real_padded, x0_fake, mask)
    assert torch.allclose(again, expected)


def test_simulate_steps_is_the_ddim_sampler_up_to_a_step():
    schedule = CosineSchedule()
    log_snrs = sampling_log_snrs(schedule, 4)
    x0_fn = lambda z, log_snr: 0.5 * z  # noqa: E731
    z = torch.randn(3, 2)
    assert torch.equal(simulate_steps(x0_fn, z, log_snrs, 0), z)
    # all 4 steps: the sampler's result
    full = sample(lambda z_t, log_snr: 0.5 * z_t, z, 4, schedule=schedule, parameterization="x0")
    assert torch.allclose(simulate_steps(x0_fn, z, log_snrs, 4), full, atol=1e-6)


def test_consistency_target_is_the_teacher_at_the_clean_end_and_the_ema_elsewhere():
    schedule = CosineSchedule()
    teacher = lambda z, log_snr: 0.5 * z  # noqa: E731
    ema = lambda z, log_snr: z + 10.0  # noqa: E731
    z_t = torch.randn(2, 3)
    log_snr_t = schedule(torch.tensor([0.5, 0.1]))
    log_snr_s = torch.tensor([float(schedule(torch.tensor(0.25))), math.inf])
    target = consistency_target(teacher, ema, z_t, log_snr_t, log_snr_s)
    z_s = ddim_step(teacher(z_t, log_snr_t), z_t, log_snr_t, log_snr_s)
    assert torch.allclose(target[0], z_s[0] + 10.0)  # the EMA one teacher step down
    assert torch.allclose(target[1], 0.5 * z_t[1])  # the teacher's x0: the boundary condition
    assert torch.isfinite(target).all()
