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

from gaussian import classifier_guided_model_fn, mixture_log_posterior, mixture_model_fn, whitened_noise
from nemo_distill.diffusion import (
    CosineSchedule,
    cfg_model_fn,
    classifier_free_guidance,
    classifier_guidance,
    prediction_to_x0_eps,
    sample,
)

MEANS = torch.tensor([-2.0, 2.0], dtype=torch.float64)
STD = 0.3


def test_classifier_free_guidance_formula():
    cond, uncond = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    assert torch.equal(classifier_free_guidance(cond, uncond, 0.0), cond)
    assert torch.allclose(classifier_free_guidance(cond, uncond, 2.0), 3 * cond - 2 * uncond)
    calls = []
    fn = cfg_model_fn(lambda z, l: calls.append("c") or z + 1, lambda z, l: calls.append("u") or z - 1, 0.0)
    fn(torch.zeros(1), torch.zeros(1))
    assert calls == ["c"]  # no wasted unconditional call at w = 0


def test_classifier_free_guidance_on_class_conditional_mixture():
    # conditional model = one component, unconditional = the mixture: guidance sharpens towards the class
    cond = mixture_model_fn(MEANS[1:], STD, "v")
    uncond = mixture_model_fn(MEANS, STD, "v")
    noise = whitened_noise(2000, 1)
    x = sample(cfg_model_fn(cond, uncond, 1.0), noise, 64, schedule=CosineSchedule(), parameterization="v")
    assert (x > 0).double().mean() == 1.0


def test_classifier_guidance_formula():
    eps = torch.ones(2, 3)
    grad = torch.full((2, 3), 2.0)
    log_snr = torch.zeros(2)  # sigma = sqrt(0.5)
    assert torch.allclose(classifier_guidance(eps, log_snr, grad, 0.5), eps - 0.5 * 0.5**0.5 * grad)


@pytest.mark.parametrize("parameterization", ["eps", "x0", "v"])
def test_classifier_guidance_is_the_same_in_every_parameterization(parameterization):
    z = torch.randn(16, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    log_snr = torch.linspace(-5, 5, 16, dtype=torch.float64)
    log_prob = mixture_log_posterior(MEANS, STD, 1)
    reference = classifier_guided_model_fn(mixture_model_fn(MEANS, STD, "eps"), log_prob, 2.0, "eps")(z, log_snr)
    guided = classifier_guided_model_fn(mixture_model_fn(MEANS, STD, parameterization), log_prob, 2.0, parameterization)
    _, eps = prediction_to_x0_eps(guided(z, log_snr), z, log_snr, parameterization)
    assert torch.allclose(eps, reference, atol=1e-8)


@pytest.mark.parametrize("label,sign", [(0, -1), (1, 1)])
def test_classifier_guidance_moves_samples_to_requested_class(label, sign):
    # exact unconditional denoiser for a two-class mixture + exact noisy-input classifier: with gamma = 1 the guided
    # score is the class-conditional score, so every sample lands in the requested component
    model_fn = mixture_model_fn(MEANS, STD, "v")
    noise = whitened_noise(2000, 1, seed=3)
    unguided = sample(model_fn, noise, 64, schedule=CosineSchedule(), parameterization="v")
    assert 0.4 < (unguided > 0).double().mean() < 0.6
    guided_fn = classifier_guided_model_fn(model_fn, mixture_log_posterior(MEANS, STD, label), 1.0, "v")
    guided = sample(guided_fn, noise, 64, schedule=CosineSchedule(), parameterization="v")
    assert (sign * guided > 0).double().mean() > 0.99
    assert guided.mean().item() == pytest.approx(sign * 2.0, abs=0.1)


def test_log_prob_shape_is_checked():
    guided = classifier_guided_model_fn(lambda z, l: z, lambda z, l: z.sum(1, keepdim=True), 1.0, "v")
    with pytest.raises(ValueError, match=r"one log-probability per example \[B\]"):
        guided(torch.zeros(4, 1), torch.zeros(4))
