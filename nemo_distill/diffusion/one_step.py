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

"""The formulas of the two routes to one step that are not progressive distillation.

**Distribution matching distillation** (DMD, Yin et al. 2024; DMD2, Yin et al. 2024b, as in ``tianweiy/DMD2``
``compute_distribution_matching_loss`` and FastGen's ``vsd_loss``). A generator's sample ``x`` ``[B, ...]`` is noised
to ``z = alpha x + sigma eps`` at a random level; a frozen "real" denoiser (the teacher) and a "fake" denoiser (trained
online on the generator's samples) each predict ``x0``. The generator descends

    g = (x0_fake(z) - x0_real(z)) / mean_valid |x - x0_real(z)|          (per example; + 1e-6)

through the surrogate ``loss = 0.5 mean_valid (x - sg(x - g))^2`` whose gradient in ``x`` is ``g`` (over the count of
valid elements): the direction from the fake distribution's score towards the real one's.

**Consistency distillation** (Song et al. 2023; CoMoSpeech, Ye et al. 2023) on a ``N``-step grid of the teacher: the
student's ``x0`` at ``z_t`` must equal its EMA copy's ``x0`` one teacher DDIM step further down, at ``z_s``; at the
clean end (``s = 0``) the target is the teacher's DDIM result itself, which anchors the chain (the boundary condition
is met by the target, so the student stays an ordinary ``x0``-predicting decoder every sampler and export takes).
"""

from typing import Callable, Optional

import torch

from nemo_distill.diffusion.parameterization import broadcast_to
from nemo_distill.diffusion.samplers import ddim_step

__all__ = ["consistency_target", "distribution_matching_gradient", "distribution_matching_loss",
           "masked_mean", "simulate_steps"]

X0Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def masked_mean(values: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-example mean ``[B]`` of ``values`` ``[B, ...]`` over its valid elements (``mask`` broadcastable to it)."""
    dims = tuple(range(1, values.ndim))
    if mask is None:
        return values.mean(dim=dims)
    mask = mask.to(values.dtype).expand_as(values)
    return (values * mask).sum(dim=dims) / mask.sum(dim=dims).clamp(min=1.0)


def distribution_matching_gradient(x: torch.Tensor, x0_real: torch.Tensor, x0_fake: torch.Tensor,
                                   mask: Optional[torch.Tensor] = None, eps: float = 1e-6) -> torch.Tensor:
    """DMD's gradient ``g`` ``[B, ...]`` for the generator's samples ``x``: ``(x0_fake - x0_real)`` divided per example
    by ``mean_valid |x - x0_real|`` (the normaliser makes the step size the same at every noise level); zero past
    ``mask``, non-finite values zeroed."""
    normaliser = masked_mean((x - x0_real).abs(), mask) + eps
    gradient = (x0_fake - x0_real) / broadcast_to(normaliser, x)
    if mask is not None:
        gradient = gradient * mask
    return torch.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)


def distribution_matching_loss(x: torch.Tensor, x0_real: torch.Tensor, x0_fake: torch.Tensor,
                               mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``0.5 mean_B mean_valid (x - sg(x - g))^2`` (a scalar): back-propagating it puts ``g`` on ``x``.
    ``x0_real`` and ``x0_fake`` are detached here."""
    gradient = distribution_matching_gradient(x.detach(), x0_real.detach(), x0_fake.detach(), mask)
    target = (x - gradient).detach()
    return 0.5 * masked_mean((x - target) ** 2, mask).mean()


@torch.no_grad()
def simulate_steps(x0_fn: X0Fn, z_start: torch.Tensor, log_snrs: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` DDIM steps of the model ``x0_fn`` from ``z_start`` along ``log_snrs`` (the sampler's grid,
    :func:`~nemo_distill.diffusion.schedules.sampling_log_snrs`), without gradients: the state ``z`` at
    ``log_snrs[steps]`` from which a K-step generator makes its next step (DMD2's backward simulation, with the
    generator's own deterministic sampler)."""
    z = z_start
    for i in range(int(steps)):
        log_snr_t = log_snrs[i].expand(z.shape[0])
        z = ddim_step(x0_fn(z, log_snr_t), z, log_snr_t, log_snrs[i + 1].expand(z.shape[0]))
    return z


@torch.no_grad()
def consistency_target(teacher_x0_fn: X0Fn, target_x0_fn: X0Fn, z_t: torch.Tensor, log_snr_t: torch.Tensor,
                       log_snr_s: torch.Tensor) -> torch.Tensor:
    """The consistency target ``[B, ...]`` for the student's ``x0`` at ``z_t``: one teacher DDIM step ``t -> s``
    (``log_snr_* [B]``), then the target network (the student's EMA copy) at ``z_s``; where ``s`` is the clean end
    (``log_snr_s = +inf``) the teacher's DDIM result ``z_s`` itself."""
    z_s = ddim_step(teacher_x0_fn(z_t, log_snr_t), z_t, log_snr_t, log_snr_s)
    clean = torch.isinf(log_snr_s)
    if bool(clean.all()):
        return z_s
    finite_log_snr_s = torch.where(clean, log_snr_t, log_snr_s)  # any finite level: those rows are replaced below
    target = target_x0_fn(z_s, finite_log_snr_s)
    return torch.where(clean.reshape(-1, *[1] * (z_s.ndim - 1)), z_s, target)
