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
from hypothesis import given, settings
from hypothesis import strategies as st

from nemo_distill.diffusion import alpha_sigma, noise_data, prediction_to_x0_eps, target_from_x0_eps

finite = st.floats(-10.0, 10.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    x0=st.lists(finite, min_size=3, max_size=3),
    eps=st.lists(finite, min_size=3, max_size=3),
    log_snr=st.floats(-20.0, 20.0),
    parameterization=st.sampled_from(["eps", "x0", "v"]),
)
def test_every_parameterization_round_trips(x0, eps, log_snr, parameterization):
    x0 = torch.tensor([x0], dtype=torch.float64)
    eps = torch.tensor([eps], dtype=torch.float64)
    log_snr = torch.tensor([log_snr], dtype=torch.float64)
    z_t = noise_data(x0, log_snr, eps)
    target = target_from_x0_eps(x0, eps, log_snr, parameterization)
    x0_back, eps_back = prediction_to_x0_eps(target, z_t, log_snr, parameterization)
    alpha, sigma = alpha_sigma(log_snr)
    # the reconstructed quantity is divided by alpha (eps) or sigma (x0): scale the tolerance by that conditioning
    scale = 1e-9 * (1 + 1 / min(alpha.item(), sigma.item())) * (1 + x0.abs().max() + eps.abs().max())
    assert torch.allclose(x0_back, x0, atol=scale.item(), rtol=0)
    assert torch.allclose(eps_back, eps, atol=scale.item(), rtol=0)


@settings(max_examples=100, deadline=None)
@given(log_snr=st.floats(-20.0, 20.0), seed=st.integers(0, 2**16))
def test_v_identities(log_snr, seed):
    generator = torch.Generator().manual_seed(seed)
    x0, eps = torch.randn(2, 1, 5, generator=generator, dtype=torch.float64)
    log_snr = torch.tensor([log_snr], dtype=torch.float64)
    alpha, sigma = alpha_sigma(log_snr)
    z = noise_data(x0, log_snr, eps)
    v = target_from_x0_eps(x0, eps, log_snr, "v")
    assert torch.allclose(v, alpha * eps - sigma * x0)
    assert torch.allclose(alpha * z - sigma * v, x0, atol=1e-12)
    assert torch.allclose(sigma * z + alpha * v, eps, atol=1e-12)


def test_unknown_parameterization_names_options():
    z = torch.zeros(1, 2)
    with pytest.raises(ValueError, match=r"unknown parameterization 'score'.*'eps', 'x0', 'v'"):
        prediction_to_x0_eps(z, z, torch.zeros(1), "score")
