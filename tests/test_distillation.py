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

from gaussian import mixture_model_fn, whitened_noise
from nemo_distill.diffusion import (
    CosineSchedule,
    check_halvable,
    ddim_step,
    distillation_plan,
    prediction_to_x0_eps,
    sample,
    sampling_log_snrs,
    student_step_log_snrs,
    teacher_two_step,
    two_step_target,
)

SCHEDULE = CosineSchedule()
MEANS = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)


def teacher_x0_fn():
    model_fn = mixture_model_fn(MEANS, 0.3, "x0")  # a nonlinear, exact teacher
    return lambda z, log_snr: model_fn(z, log_snr)


@pytest.mark.parametrize("student_steps", [1, 2, 4, 8])
def test_one_student_step_reproduces_two_teacher_steps(student_steps):
    teacher = teacher_x0_fn()
    z_t = torch.randn(64, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    for i in range(student_steps):
        index = torch.full((64,), i)
        log_snr_t, log_snr_mid, log_snr_s = student_step_log_snrs(SCHEDULE, student_steps, index, torch.float64)
        z_s = teacher_two_step(teacher, z_t, log_snr_t, log_snr_mid, log_snr_s)
        x0_target = two_step_target(z_t, z_s, log_snr_t, log_snr_s)
        student_z_s = ddim_step(x0_target, z_t, log_snr_t, log_snr_s)
        assert torch.allclose(student_z_s, z_s, atol=1e-10, rtol=1e-10)


def test_last_step_target_is_teachers_x0():
    teacher = teacher_x0_fn()
    z_t = torch.randn(32, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    log_snr_t, log_snr_mid = torch.full((32,), -1.0, dtype=torch.float64), torch.full((32,), 2.0, dtype=torch.float64)
    log_snr_s = torch.full((32,), math.inf, dtype=torch.float64)
    z_s = teacher_two_step(teacher, z_t, log_snr_t, log_snr_mid, log_snr_s)
    z_mid = ddim_step(teacher(z_t, log_snr_t), z_t, log_snr_t, log_snr_mid)
    assert torch.allclose(two_step_target(z_t, z_s, log_snr_t, log_snr_s), teacher(z_mid, log_snr_mid), atol=1e-12)


@pytest.mark.parametrize("student_steps", [1, 4, 16])
def test_student_grid_is_every_other_point_of_teacher_grid(student_steps):
    # guards against the swapped t'/t'' bug: t and s are student grid points, t' the teacher point between them
    teacher_grid = sampling_log_snrs(SCHEDULE, 2 * student_steps, dtype=torch.float64)
    index = torch.arange(student_steps)
    log_snr_t, log_snr_mid, log_snr_s = student_step_log_snrs(SCHEDULE, student_steps, index, torch.float64)
    assert torch.allclose(log_snr_t, teacher_grid[0:-1:2], atol=1e-12)
    assert torch.allclose(log_snr_mid, teacher_grid[1::2], atol=1e-12)
    assert torch.equal(log_snr_s[-1:], teacher_grid[-1:]) and torch.allclose(log_snr_s, teacher_grid[2::2], atol=1e-12)
    assert torch.all(log_snr_t < log_snr_mid) and torch.all(log_snr_mid < log_snr_s)


def test_oracle_student_sampler_equals_teacher_at_twice_the_steps():
    # a student that predicts the two-step target exactly, sampled with K DDIM steps, is the 2K-step teacher
    teacher = teacher_x0_fn()
    student_steps = 4
    grid = sampling_log_snrs(SCHEDULE, student_steps, dtype=torch.float64)
    mids = sampling_log_snrs(SCHEDULE, 2 * student_steps, dtype=torch.float64)[1::2]

    def oracle_student(z_t, log_snr):
        i = int(torch.argmin((grid[:-1] - log_snr[0]).abs()))
        batch = lambda value: value.expand(z_t.shape[0])  # noqa: E731
        z_s = teacher_two_step(teacher, z_t, log_snr, batch(mids[i]), batch(grid[i + 1]))
        return two_step_target(z_t, z_s, log_snr, batch(grid[i + 1]))

    noise = whitened_noise(256, 1)
    student = sample(oracle_student, noise, student_steps, schedule=SCHEDULE, parameterization="x0")
    teacher_2k = sample(teacher, noise, 2 * student_steps, schedule=SCHEDULE, parameterization="x0")
    assert torch.allclose(student, teacher_2k, atol=1e-9)


def test_student_prediction_in_v_recovers_target():
    # the target can be learnt in any parameterization: the v that yields x0_target gives the same DDIM step
    teacher = teacher_x0_fn()
    z_t = torch.randn(16, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    l_t, l_mid, l_s = (torch.full((16,), v, dtype=torch.float64) for v in (-3.0, -1.0, 1.0))
    x0_target = two_step_target(z_t, teacher_two_step(teacher, z_t, l_t, l_mid, l_s), l_t, l_s)
    alpha, sigma = torch.sigmoid(l_t).sqrt()[:, None], torch.sigmoid(-l_t).sqrt()[:, None]
    v = (alpha * z_t - x0_target) / sigma
    assert torch.allclose(prediction_to_x0_eps(v, z_t, l_t, "v")[0], x0_target, atol=1e-12)


def test_plans():
    assert distillation_plan(1024, 4) == [1024, 512, 256, 128, 64, 32, 16, 8, 4]
    assert distillation_plan(256, 1) == [256, 128, 64, 32, 16, 8, 4, 2, 1]
    assert check_halvable(12, 3) == 2


@pytest.mark.parametrize("teacher,student,suggested", [(1000, 4, "1024 -> 4"), (256, 3, "256 -> 2"), (4, 8, "16 -> 8"),
                                                       (8, 8, "8 -> 4")])
def test_bad_plans_name_nearest_valid(teacher, student, suggested):
    with pytest.raises(ValueError, match=f"cannot halve {teacher} .* nearest valid plans: .*{suggested}"):
        check_halvable(teacher, student)


def test_non_integer_steps_refused():
    with pytest.raises(ValueError, match="integers >= 1"):
        check_halvable(256, 0)


def test_student_grid_with_shallow_start():
    teacher_grid = sampling_log_snrs(SCHEDULE, 8, dtype=torch.float64, t_start=0.5)
    log_snr_t, log_snr_mid, log_snr_s = student_step_log_snrs(SCHEDULE, 4, torch.arange(4), torch.float64, t_start=0.5)
    assert torch.allclose(log_snr_t, teacher_grid[0:-1:2], atol=1e-12)
    assert torch.allclose(log_snr_mid, teacher_grid[1::2], atol=1e-12)
    assert torch.allclose(log_snr_s[:-1], teacher_grid[2:-1:2], atol=1e-12)
