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

"""Loss weightings ``w(log_snr)`` applied to the x-space error ``|x0_pred - x0_target|**2``.

Because ``|eps_pred - eps|**2 = SNR * |x0_pred - x0|**2`` and ``|v_pred - v|**2 = (SNR + 1) * |x0_pred - x0|**2``,
every common loss is one of these weights on the same x-space error:

============== ========================================= ==============================================
name           w(SNR)                                    what it is
============== ========================================= ==============================================
constant       1                                         plain x0-MSE
snr            SNR                                       eps-MSE (Ho et al. 2020)
snr_trunc      max(SNR, 1)                               truncated SNR (Salimans & Ho 2022)
snr_plus_one   SNR + 1                                   v-MSE (Salimans & Ho 2022)
min_snr_gamma  min(SNR, gamma)                           Min-SNR-gamma (Hang et al. 2023), x-space form
bsa            1 / (1 / (SNR + 1) + 1 / gamma)           balanced SNR-aware, see below
============== ========================================= ==============================================

``bsa`` (balanced SNR-aware) is the harmonic soft-minimum of ``snr_plus_one`` and the constant ``gamma``.
It is bounded at both ends: ``w -> gamma / (gamma + 1)`` (about 1) at pure noise, where ``min_snr_gamma``
drops to zero weight although that is the step a one- or two-step student must get right, and
``w -> gamma`` at the clean end, where ``snr``/``snr_plus_one`` grow without bound and let the easiest,
near-identity steps dominate the gradient. In between it follows ``SNR + 1`` (the v-loss) and it is smooth,
with no kink at the truncation point as in ``snr_trunc`` or ``min_snr_gamma``. The ratio between its
largest and smallest weight is ``gamma + 1``, so ``gamma`` is the one knob that sets the balance.
"""

import torch

__all__ = ["WEIGHTINGS", "loss_weight"]

WEIGHTINGS = ("constant", "snr", "snr_trunc", "snr_plus_one", "min_snr_gamma", "bsa")


def loss_weight(name: str, log_snr: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Per-example weight ``[B]`` on the x-space squared error for the named weighting at ``log_snr`` ``[B]``."""
    if name not in WEIGHTINGS:
        raise ValueError(f"unknown loss weighting {name!r}; valid options: {list(WEIGHTINGS)}")
    if name in ("min_snr_gamma", "bsa") and not gamma > 0:
        raise ValueError(f"gamma must be > 0 for weighting {name!r}, got {gamma}")
    snr = torch.exp(log_snr)
    if name == "constant":
        return torch.ones_like(snr)
    if name == "snr":
        return snr
    if name == "snr_trunc":
        return torch.clamp(snr, min=1.0)
    if name == "snr_plus_one":
        return snr + 1.0
    if name == "min_snr_gamma":
        return torch.clamp(snr, max=gamma)
    # bsa: harmonic soft-min of (SNR + 1) and gamma, written stably for SNR -> inf
    return gamma * (snr + 1.0) / (snr + 1.0 + gamma)
