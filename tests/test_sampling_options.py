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

"""SamplingOptions: every sampling choice checked once, when the options are made; defaults filled in."""

import pytest
import torch

from nemo_distill.diffusion import SamplingOptions


@pytest.mark.parametrize("kwargs,match", [
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"steps": 2.5}, "steps must be an integer >= 1"),
    ({"steps": True}, "steps must be an integer >= 1"),
    ({"sampler": "euler"}, "unknown sampler 'euler'"),
    ({"guidance_scale": -1.0}, "guidance_scale must be a finite number >= 0"),
    ({"guidance_scale": float("nan")}, "guidance_scale must be a finite number >= 0"),
    ({"temperature": 0.0}, "temperature must be > 0"),
    ({"t_start": 0.0}, "t_start must be in \\(0, 1\\]"),
    ({"t_start": 1.5}, "t_start must be in \\(0, 1\\]"),
    ({"eta": -0.1}, "eta must be >= 0"),
    ({"seed": "0"}, "seed must be an integer"),
    ({"noise": torch.zeros(2, 3)}, "noise must be a tensor \\[B, n_mels, T_noise\\]"),
])
def test_bad_options_are_refused_when_made(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplingOptions(**kwargs)


def test_a_misspelt_option_is_a_type_error():
    with pytest.raises(TypeError):
        SamplingOptions(step=4)


def test_defaults_fill_only_what_is_not_given():
    import numpy as np

    defaults = SamplingOptions(steps=64, sampler="ddim", temperature=0.5, t_start=1.0)
    options = SamplingOptions(steps=np.int64(4), seed=np.int64(3), guidance_scale=1).with_defaults(defaults)
    assert options == SamplingOptions(steps=4, sampler="ddim", temperature=0.5, t_start=1.0, seed=3,
                                      guidance_scale=1.0)
    assert type(options.steps) is int and type(options.seed) is int and type(options.guidance_scale) is float
    assert SamplingOptions().with_defaults(defaults).steps == 64


def test_the_seed_makes_the_generator():
    a, b = SamplingOptions(seed=5).generator("cpu"), SamplingOptions(seed=5).generator("cpu")
    assert torch.equal(torch.randn(3, generator=a), torch.randn(3, generator=b))
    assert SamplingOptions().generator("cpu") is None
