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

from nemo_distill.diffusion import (
    WEIGHTINGS,
    loss_weight,
    noise_data,
    target_from_x0_eps,
    weighted_denoising_loss,
)

LOG_SNR = torch.linspace(-30, 30, 121, dtype=torch.float64)


def test_closed_forms():
    log_snr = torch.tensor([-2.0, 0.0, math.log(3.0), 4.0], dtype=torch.float64)
    snr = log_snr.exp()
    assert torch.allclose(loss_weight("constant", log_snr), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(loss_weight("snr", log_snr), snr)
    assert torch.allclose(loss_weight("snr_trunc", log_snr), torch.tensor([1.0, 1.0, 3.0, math.exp(4.0)], dtype=torch.float64))
    assert torch.allclose(loss_weight("snr_plus_one", log_snr), snr + 1)
    assert torch.allclose(loss_weight("min_snr_gamma", log_snr, gamma=5.0), torch.tensor([math.exp(-2), 1.0, 3.0, 5.0], dtype=torch.float64))


def test_bsa_is_bounded_smooth_and_monotone():
    gamma = 5.0
    w = loss_weight("bsa", LOG_SNR, gamma)
    assert torch.all(w >= gamma / (gamma + 1) - 1e-12) and torch.all(w <= gamma + 1e-12)
    assert w[0].item() == pytest.approx(gamma / (gamma + 1), rel=1e-6)  # pure-noise end keeps weight
    assert w[-1].item() == pytest.approx(gamma, rel=1e-6)  # clean end is capped
    assert torch.all(w[1:] >= w[:-1])
    # follows the v-loss weight (SNR + 1) where that is small
    small = LOG_SNR < -4
    assert torch.allclose(w[small], (LOG_SNR[small].exp() + 1) * gamma / (gamma + 1), rtol=0.02)
    # the weightings it balances are unbounded at one end or vanish at the other
    assert loss_weight("snr_plus_one", LOG_SNR)[-1] > 1e12 and loss_weight("min_snr_gamma", LOG_SNR)[0] < 1e-12


@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
def test_weighted_loss_equals_native_mse(parameterization):
    # snr weighting == eps-MSE, snr_plus_one == v-MSE, constant == x0-MSE, whatever the model predicts
    generator = torch.Generator().manual_seed(0)
    x0, eps, prediction = torch.randn(3, 8, 4, generator=generator, dtype=torch.float64)
    log_snr = torch.randn(8, generator=generator, dtype=torch.float64) * 3
    z_t = noise_data(x0, log_snr, eps)
    for weighting, native in (("snr", "eps"), ("snr_plus_one", "v"), ("constant", "x0")):
        from nemo_distill.diffusion import prediction_to_x0_eps

        x0_pred, eps_pred = prediction_to_x0_eps(prediction, z_t, log_snr, parameterization)
        native_pred = target_from_x0_eps(x0_pred, eps_pred, log_snr, native)
        native_target = target_from_x0_eps(x0, eps, log_snr, native)
        expected = ((native_pred - native_target) ** 2).mean()
        got = weighted_denoising_loss(prediction, z_t, log_snr, x0, parameterization, weighting)
        assert got.item() == pytest.approx(expected.item(), rel=1e-9)


def test_mask_averages_valid_frames_only():
    x0 = torch.zeros(2, 3, 4)
    prediction = torch.zeros(2, 3, 4)
    prediction[..., 2:] = 10.0  # error only on padded frames
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)[:, None, :]
    log_snr = torch.zeros(2)
    z_t = noise_data(x0, log_snr, torch.zeros_like(x0))
    assert weighted_denoising_loss(prediction, z_t, log_snr, x0, "x0", "constant", mask=mask).item() == 0.0
    assert weighted_denoising_loss(prediction, z_t, log_snr, x0, "x0", "constant").item() > 0


def test_unknown_weighting_names_options():
    with pytest.raises(ValueError, match=r"unknown loss weighting 'p2'.*" + ".*".join(WEIGHTINGS)):
        loss_weight("p2", LOG_SNR)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        loss_weight("bsa", LOG_SNR, gamma=0.0)
