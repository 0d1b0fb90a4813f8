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

"""Each distillation method's training loss, written once: the speech ``ModelPT`` s and the 2-D toy both call these.

Every model enters as an x0-function ``(z_t [B, ...], log_snr [B]) -> x0 [B, ...]`` (a decoder's ``x0_prediction``
with its conditioning bound, or a toy MLP read through its parameterization); ``x0`` ``[B, ...]`` are the training
samples (the teacher's, in diffusion space); ``mask`` (broadcastable to ``[B, ...]``, 1 = valid) is None for the
toy. ``temperature`` scales the noise of the training states: the states the sampler visits start from
``temperature * eps``. Randomness (steps, levels, noise) comes from torch's global generator.

- :func:`progressive_loss`: a student step equals two teacher DDIM steps (Salimans & Ho 2022).
- :func:`guidance_folding_loss`: one call learns the guided prediction (Meng et al. 2023, stage one).
- :func:`layer_distillation_loss`: fewer residual blocks learn the full depth's prediction (Presto!-L).
- :func:`consistency_loss` and :func:`ema_update`: consistency distillation (Song et al. 2023; CoMoSpeech).
- :func:`dmd_generator_losses`, :func:`dmd_fake_losses`, :func:`dmd_generator_turn`: distribution matching
  (DMD/DMD2, Yin et al. 2024).
"""

from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from nemo_distill.diffusion.distillation import student_step_log_snrs, teacher_two_step, two_step_target
from nemo_distill.diffusion.losses import noise_data, weighted_denoising_loss
from nemo_distill.diffusion.one_step import consistency_target, distribution_matching_loss, masked_mean

__all__ = [
    "consistency_loss",
    "dmd_fake_losses",
    "dmd_generator_losses",
    "dmd_generator_turn",
    "ema_update",
    "guidance_folding_loss",
    "layer_distillation_loss",
    "progressive_loss",
]

X0Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _masked(values: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    return values if mask is None else values * mask


def _grid_states(x0, schedule, steps: int, temperature: float, t_start: float, mask):
    """A random step of the ``steps``-step DDIM grid per example and the state the sampler visits there:
    ``(z_t, log_snr_t, log_snr_mid, log_snr_s)``."""
    step = torch.randint(0, int(steps), (x0.shape[0],), device=x0.device)
    log_snr_t, log_snr_mid, log_snr_s = student_step_log_snrs(schedule, int(steps), step, dtype=x0.dtype,
                                                              t_start=t_start)
    z_t = _masked(noise_data(x0, log_snr_t, temperature * torch.randn_like(x0)), mask)
    return z_t, log_snr_t, log_snr_mid, log_snr_s


def progressive_loss(student_x0: X0Fn, teacher_x0: X0Fn, x0: torch.Tensor, schedule, student_steps: int, *,
                     weighting: str, weighting_gamma: float = 5.0, temperature: float = 1.0, t_start: float = 1.0,
                     mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One step ``t -> s`` of the ``student_steps`` grid per example; the student's x0 at ``z_t`` learns the x0 whose
    one DDIM step lands where the teacher's two steps ``t -> t' -> s`` land::

        loss = w(log_snr_t) |x0_student(z_t) - two_step_target(z_t, z_s, t, s)|^2
    """
    z_t, log_snr_t, log_snr_mid, log_snr_s = _grid_states(x0, schedule, student_steps, temperature, t_start, mask)
    with torch.no_grad():
        z_s = teacher_two_step(teacher_x0, z_t, log_snr_t, log_snr_mid, log_snr_s)
        x0_target = _masked(two_step_target(z_t, z_s, log_snr_t, log_snr_s), mask)
    return weighted_denoising_loss(student_x0(z_t, log_snr_t), z_t, log_snr_t, x0_target, "x0", weighting,
                                   weighting_gamma, mask=mask)


def guidance_folding_loss(student_x0: X0Fn, guided_teacher_x0: X0Fn, x0: torch.Tensor, schedule, *, weighting: str,
                          weighting_gamma: float = 5.0, temperature: float = 1.0, t_start: float = 1.0,
                          mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """At ``t ~ U[0, t_start]`` the student's single call learns the teacher's guided prediction (which costs the
    teacher two calls): ``loss = w(log_snr_t) |x0_student(z_t) - x0_guided(z_t)|^2``."""
    t = t_start * torch.rand(x0.shape[0], device=x0.device, dtype=torch.float64)
    log_snr_t = schedule(t).to(x0.dtype)
    z_t = _masked(noise_data(x0, log_snr_t, temperature * torch.randn_like(x0)), mask)
    with torch.no_grad():
        x0_target = guided_teacher_x0(z_t, log_snr_t)
    return weighted_denoising_loss(student_x0(z_t, log_snr_t), z_t, log_snr_t, x0_target, "x0", weighting,
                                   weighting_gamma, mask=mask)


def layer_distillation_loss(student_x0_at: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
                            full_depth_x0: X0Fn, x0: torch.Tensor, schedule, steps: int, budgets: Sequence[int],
                            num_blocks: int, *, weighting: str, weighting_gamma: float = 5.0,
                            denoising_weight: float = 0.0, temperature: float = 1.0, t_start: float = 1.0,
                            mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, int]:
    """Self-distillation at one budget drawn from ``budgets`` + the full depth ``num_blocks`` (the full depth keeps
    the full model where it was), at the states of the ``steps``-step sampler::

        loss = w |x0_student(z_t; n blocks) - x0_full(z_t)|^2 + denoising_weight w |x0_student - x0|^2

    ``student_x0_at(z_t, log_snr, n)`` runs ``n`` blocks. Returns ``(loss, n)``."""
    z_t, log_snr_t, _, _ = _grid_states(x0, schedule, steps, temperature, t_start, mask)
    choices = sorted(set(int(b) for b in budgets) | {int(num_blocks)})
    budget = choices[int(torch.randint(0, len(choices), (1,)))]
    with torch.no_grad():
        x0_full = full_depth_x0(z_t, log_snr_t)
    x0_student = student_x0_at(z_t, log_snr_t, budget)
    loss = weighted_denoising_loss(x0_student, z_t, log_snr_t, x0_full, "x0", weighting, weighting_gamma, mask=mask)
    if denoising_weight > 0:
        loss = loss + denoising_weight * weighted_denoising_loss(x0_student, z_t, log_snr_t, x0, "x0", weighting,
                                                                 weighting_gamma, mask=mask)
    return loss, budget


def consistency_loss(student_x0: X0Fn, teacher_x0: X0Fn, ema_x0: X0Fn, x0: torch.Tensor, schedule, grid_steps: int,
                     *, weighting: str, weighting_gamma: float = 5.0, temperature: float = 1.0, t_start: float = 1.0,
                     mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """On the teacher's ``grid_steps``-step DDIM grid: the student's x0 at ``z_t`` learns its EMA copy's one teacher
    DDIM step further down (the teacher's DDIM result at the clean end)::

        loss = w(log_snr_t) |x0_student(z_t) - sg x0_ema(ddim_teacher(z_t, t -> s), s)|^2
    """
    z_t, log_snr_t, _, log_snr_s = _grid_states(x0, schedule, grid_steps, temperature, t_start, mask)
    ema_on_valid = ema_x0 if mask is None else (lambda z, log_snr: ema_x0(z * mask, log_snr))
    x0_target = _masked(consistency_target(teacher_x0, ema_on_valid, z_t, log_snr_t, log_snr_s), mask)
    return weighted_denoising_loss(student_x0(z_t, log_snr_t), z_t, log_snr_t, x0_target, "x0", weighting,
                                   weighting_gamma, mask=mask)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, online: torch.nn.Module, decay: float) -> None:
    """``ema = decay ema + (1 - decay) online`` for every parameter; buffers copied."""
    for ema_parameter, parameter in zip(ema.parameters(), online.parameters()):
        ema_parameter.lerp_(parameter, 1.0 - float(decay))
    for ema_buffer, buffer in zip(ema.buffers(), online.buffers()):
        ema_buffer.copy_(buffer)


def dmd_generator_turn(step: int, fake_updates: int) -> bool:
    """DMD2's two-time-scale schedule on one optimizer step counter: ``fake_updates`` steps of the fake denoiser
    (and discriminator), then one of the generator; True on the generator's."""
    return int(step) % (int(fake_updates) + 1) == int(fake_updates)


def dmd_generator_losses(x: torch.Tensor, real_x0: X0Fn, fake_x0: X0Fn, log_snr: torch.Tensor,
                         mask: Optional[torch.Tensor] = None,
                         paired: Optional[Tuple[torch.Tensor, torch.Tensor]] = None, regression_weight: float = 0.0,
                         fake_logits: Optional[torch.Tensor] = None,
                         adversarial_weight: float = 0.0) -> Dict[str, torch.Tensor]:
    """The generator's losses for its samples ``x`` ``[B, ...]`` (with gradients), noised at ``log_snr`` ``[B]``::

        dmd_loss        = 0.5 |x - sg(x - g)|^2,  g = (x0_fake(z) - x0_real(z)) / mean_valid |x - x0_real(z)|
        regression_loss = |x_paired - x0_paired|^2    (``paired``: the generator's sample of the noise a teacher
                                                       sample ``x0_paired`` came from)
        adversarial_loss = softplus(-fake_logits)     (non-saturating GAN; ``fake_logits`` = D of noised ``x``)

    ``loss`` = dmd + ``regression_weight`` regression + ``adversarial_weight`` adversarial."""
    with torch.no_grad():
        z = _masked(noise_data(x.detach(), log_snr, torch.randn_like(x)), mask)
        x0_real, x0_fake = real_x0(z, log_snr), fake_x0(z, log_snr)
    losses = {"dmd_loss": distribution_matching_loss(x, x0_real, x0_fake, mask)}
    total = losses["dmd_loss"]
    if paired is not None:
        x_paired, x0_paired = paired
        losses["regression_loss"] = masked_mean((x_paired - x0_paired) ** 2, mask).mean()
        total = total + float(regression_weight) * losses["regression_loss"]
    if fake_logits is not None:
        losses["adversarial_loss"] = F.softplus(-fake_logits).mean()
        total = total + float(adversarial_weight) * losses["adversarial_loss"]
    losses["loss"] = total
    return losses


def dmd_fake_losses(x: torch.Tensor, fake_x0: X0Fn, log_snr: torch.Tensor, *, weighting: str,
                    weighting_gamma: float = 5.0, mask: Optional[torch.Tensor] = None,
                    logits: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
                    discriminator_weight: float = 0.0) -> Dict[str, torch.Tensor]:
    """The fake denoiser's losses: denoising score matching on the generator's samples ``x`` (detached here) at
    ``log_snr`` ``[B]``, plus, with ``logits = (fake_logits, real_logits)`` of the discriminator head, its loss
    ``softplus(fake) + softplus(-real)`` at ``discriminator_weight``."""
    x = x.detach()
    z = _masked(noise_data(x, log_snr, torch.randn_like(x)), mask)
    losses = {"fake_loss": weighted_denoising_loss(fake_x0(z, log_snr), z, log_snr, x, "x0", weighting,
                                                   weighting_gamma, mask=mask)}
    total = losses["fake_loss"]
    if logits is not None:
        fake_logits, real_logits = logits
        losses["discriminator_loss"] = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        total = total + float(discriminator_weight) * losses["discriminator_loss"]
    losses["loss"] = total
    return losses
