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

"""Progressive distillation (Salimans & Ho 2022, Algorithm 2): one student step equals two teacher steps."""

from typing import Callable, Tuple

import torch

from nemo_distill.diffusion.parameterization import broadcast_to
from nemo_distill.diffusion.samplers import ddim_step
from nemo_distill.diffusion.schedules import alpha_sigma

__all__ = ["check_halvable", "distillation_plan", "student_step_log_snrs", "teacher_two_step", "two_step_target"]

X0Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def two_step_target(z_t: torch.Tensor, z_s: torch.Tensor, log_snr_t: torch.Tensor, log_snr_s: torch.Tensor):
    """The x0 a student must predict at ``z_t`` so that its one DDIM step t -> s lands on ``z_s``.

    ``x_target = (z_s - (sigma_s / sigma_t) z_t) / (alpha_s - (sigma_s / sigma_t) alpha_t)``; for ``s`` the clean
    end (``log_snr_s = +inf``) this is ``z_s`` itself, the teacher's final x0 prediction. ``log_snr_*`` are ``[B]``.
    """
    alpha_t, sigma_t = (broadcast_to(a, z_t) for a in alpha_sigma(log_snr_t))
    alpha_s, sigma_s = (broadcast_to(a, z_t) for a in alpha_sigma(log_snr_s))
    ratio = sigma_s / sigma_t
    return (z_s - ratio * z_t) / (alpha_s - ratio * alpha_t)


def teacher_two_step(
    teacher_x0_fn: X0Fn, z_t: torch.Tensor, log_snr_t: torch.Tensor, log_snr_mid: torch.Tensor, log_snr_s: torch.Tensor
) -> torch.Tensor:
    """Two teacher DDIM steps t -> t' -> s (``log_snr_t < log_snr_mid < log_snr_s``); returns ``z_s``."""
    z_mid = ddim_step(teacher_x0_fn(z_t, log_snr_t), z_t, log_snr_t, log_snr_mid)
    return ddim_step(teacher_x0_fn(z_mid, log_snr_mid), z_mid, log_snr_mid, log_snr_s)


def student_step_log_snrs(
    schedule, student_steps: int, step_index: torch.Tensor, dtype=torch.float32, t_start: float = 1.0
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-SNRs ``(t, t', s)``, each ``[B]``, of student step ``step_index`` (``[B]`` ints in [0, student_steps)).

    Step ``i`` goes from ``t = t_start (1 - i / K)`` to ``s = t_start (1 - (i + 1) / K)``, through the teacher's
    midpoint ``t' = t - t_start / (2K)``; these are exactly the points a K-step student and a 2K-step teacher visit
    in :func:`~nemo_distill.diffusion.schedules.sampling_log_snrs`. ``s = 0`` maps to ``+inf``.
    """
    k, t_start = float(student_steps), float(t_start)
    t = t_start * (1.0 - step_index.to(torch.float64) / k)
    t_mid = t - 0.5 * t_start / k
    s = t - t_start / k
    log_snr_s = torch.where(s <= 0, torch.full_like(s, float("inf")), schedule(s.clamp(min=0)))
    return schedule(t).to(dtype), schedule(t_mid).to(dtype), log_snr_s.to(dtype)


def check_halvable(teacher_steps: int, student_steps: int) -> int:
    """Number of halvings from ``teacher_steps`` to ``student_steps``; ValueError naming valid plans otherwise."""
    if int(teacher_steps) != teacher_steps or int(student_steps) != student_steps or min(teacher_steps, student_steps) < 1:
        raise ValueError(f"step counts must be integers >= 1, got {teacher_steps} -> {student_steps}")
    rounds, steps = 0, int(teacher_steps)
    while steps > student_steps and steps % 2 == 0:
        steps //= 2
        rounds += 1
    if steps != student_steps or rounds == 0:
        raise ValueError(
            f"cannot halve {teacher_steps} teacher steps down to {student_steps} student steps exactly; "
            f"nearest valid plans: {', '.join(_nearest_plans(int(teacher_steps), int(student_steps)))}"
        )
    return rounds


def _nearest_plans(teacher_steps: int, student_steps: int):
    """Plans ``T -> S`` with ``T = S * 2**r`` (r >= 1) closest to the requested pair, as strings."""
    plans = set()
    students = [teacher_steps // 2**r for r in range(1, teacher_steps.bit_length()) if teacher_steps % 2**r == 0]
    if students:  # keep the teacher, change the student
        plans.add((teacher_steps, min(students, key=lambda k: (abs(k - student_steps), k))))
    rounds = max(1, (max(teacher_steps // max(student_steps, 1), 1)).bit_length() - 1)
    for r in (rounds, rounds + 1):  # keep the student, change the teacher
        plans.add((student_steps * 2**r, student_steps))
    ranked = sorted(plans, key=lambda p: (abs(p[0] - teacher_steps) + abs(p[1] - student_steps), p))
    return [f"{t} -> {s}" for t, s in ranked[:3]]


def distillation_plan(teacher_steps: int, student_steps: int):
    """The ladder of step counts, e.g. ``distillation_plan(1024, 4) == [1024, 512, ..., 8, 4]``."""
    rounds = check_halvable(teacher_steps, student_steps)
    return [int(teacher_steps) // 2**r for r in range(rounds + 1)]
