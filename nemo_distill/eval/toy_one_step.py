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

"""DMD and consistency distillation of a 2-D toy teacher: the one-step methods checked in seconds on a CPU.

The very losses and schedule the speech models train with (:mod:`nemo_distill.diffusion.distillation_losses`: DMD's
generator and fake-denoiser losses on DMD2's alternation of one optimizer-step counter, the consistency loss and its
EMA), on the toy MLP of :mod:`nemo_distill.eval.toy_distillation`, in plain torch loops.
"""

import copy
from dataclasses import dataclass

import torch
from tqdm.auto import trange

from nemo_distill.diffusion import (
    consistency_loss,
    dmd_fake_losses,
    dmd_generator_losses,
    dmd_generator_turn,
    ema_update,
    prediction_to_x0_eps,
    sampling_log_snrs,
    simulate_steps,
)

__all__ = ["ToyOneStepConfig", "distill_consistency_toy", "distill_dmd_toy", "x0_function"]


@dataclass
class ToyOneStepConfig:
    steps: int = 1                 # the generator's / student's sampling steps
    iters: int = 1000              # generator updates (DMD) or student updates (consistency)
    batch_size: int = 512
    lr: float = 1e-4
    fake_lr: float = 1e-3
    fake_updates: int = 5          # DMD: fake-denoiser updates per generator update (DMD2's TTUR)
    dmd_t_min: float = 0.02        # DMD loss noise levels t ~ U[t_min, t_max]
    dmd_t_max: float = 0.98
    fake_weighting: str = "snr_plus_one"
    grid_steps: int = 32           # consistency: the teacher's DDIM grid
    ema_decay: float = 0.95        # consistency: the target network's EMA
    parameterization: str = "v"
    seed: int = 0
    progress: bool = True


def x0_function(model, parameterization):
    """A toy MLP ``(z_t [B, 2], log_snr [B]) -> prediction`` read as an x0-function (the losses' interface)."""
    return lambda z, log_snr: prediction_to_x0_eps(model(z, log_snr), z, log_snr, parameterization)[0]


def distill_dmd_toy(teacher, schedule, cfg: ToyOneStepConfig):
    """A ``cfg.steps``-step DMD generator initialised from ``teacher`` (frozen as the real denoiser); returns it."""
    torch.manual_seed(cfg.seed)
    teacher = teacher.eval().requires_grad_(False)
    generator = copy.deepcopy(teacher).train().requires_grad_(True)
    fake = copy.deepcopy(teacher).train().requires_grad_(True)
    gen_optimizer = torch.optim.AdamW(generator.parameters(), lr=cfg.lr, weight_decay=0.01)
    fake_optimizer = torch.optim.AdamW(fake.parameters(), lr=cfg.fake_lr, weight_decay=0.01)
    log_snrs = sampling_log_snrs(schedule, cfg.steps)
    p = cfg.parameterization
    real_x0, fake_x0, gen_x0 = x0_function(teacher, p), x0_function(fake, p), x0_function(generator, p)

    def generated(with_grad: bool):
        """One DDIM step of the generator from the state after a random number of its own steps."""
        step = int(torch.randint(0, cfg.steps, (1,)))
        z = simulate_steps(gen_x0, torch.randn(cfg.batch_size, 2), log_snrs, step)
        with torch.set_grad_enabled(with_grad):
            return gen_x0(z, log_snrs[step].expand(cfg.batch_size))

    def levels(low: float, high: float):
        t = low + (high - low) * torch.rand(cfg.batch_size, dtype=torch.float64)
        return schedule(t.clamp(min=1e-4, max=1.0 - 1e-4)).float()

    # one optimizer-step counter, as the speech model's global_step: fake_updates fake steps, then the generator's
    for step in trange(cfg.iters * (cfg.fake_updates + 1), desc=f"DMD {cfg.steps}-step", disable=not cfg.progress):
        if dmd_generator_turn(step, cfg.fake_updates):
            x = generated(with_grad=True)
            loss = dmd_generator_losses(x, real_x0, fake_x0, levels(cfg.dmd_t_min, cfg.dmd_t_max))["loss"]
            optimizer = gen_optimizer
        else:  # the fake denoiser learns the generator's current distribution
            x = generated(with_grad=False)
            loss = dmd_fake_losses(x, fake_x0, levels(0.0, 1.0), weighting=cfg.fake_weighting)["loss"]
            optimizer = fake_optimizer
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return generator.eval().requires_grad_(False)


def distill_consistency_toy(teacher, schedule, x0_pool: torch.Tensor, cfg: ToyOneStepConfig):
    """A consistency student on the teacher's ``cfg.grid_steps``-step DDIM grid, from ``teacher``; returns it."""
    torch.manual_seed(cfg.seed)
    teacher = teacher.eval().requires_grad_(False)
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    target = copy.deepcopy(teacher).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    p = cfg.parameterization
    student_x0, teacher_x0, target_x0 = x0_function(student, p), x0_function(teacher, p), x0_function(target, p)
    for _ in trange(cfg.iters, desc="consistency distillation", disable=not cfg.progress):
        x0 = x0_pool[torch.randint(0, len(x0_pool), (cfg.batch_size,))]
        loss = consistency_loss(student_x0, teacher_x0, target_x0, x0, schedule, cfg.grid_steps, weighting="constant")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        ema_update(target, student, cfg.ema_decay)
    return student.eval().requires_grad_(False)
