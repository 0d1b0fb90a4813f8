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

"""Frechet distance of feature statistics (the mel-frame FD of scripts/benchmark.py)."""

import numpy as np
import pytest
import scipy.linalg
import torch

from nemo_distill.eval.distances import frechet_distance, gaussian_statistics


def test_frechet_distance_matches_the_sqrtm_formula_on_sample_statistics():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(500, 6, generator=generator, dtype=torch.float64) @ torch.randn(6, 6, generator=generator, dtype=torch.float64)
    y = torch.randn(400, 6, generator=generator, dtype=torch.float64) @ torch.randn(6, 6, generator=generator, dtype=torch.float64) + 1.5
    (mu_x, cov_x), (mu_y, cov_y) = gaussian_statistics(x), gaussian_statistics(y)
    root = scipy.linalg.sqrtm(cov_x.numpy() @ cov_y.numpy()).real
    expected = float(((mu_x - mu_y) ** 2).sum()) + np.trace(cov_x.numpy() + cov_y.numpy() - 2 * root)
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-6)


def test_frechet_distance_of_diagonal_gaussians_converges_to_closed_form():
    generator = torch.Generator().manual_seed(1)
    std_x, std_y = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([1.0, 1.0, 1.5])
    x = torch.randn(200_000, 3, generator=generator) * std_x
    y = torch.randn(200_000, 3, generator=generator) * std_y + torch.tensor([0.0, 1.0, 0.0])
    closed_form = 1.0 + float(((std_x - std_y) ** 2).sum())  # |dmu|^2 + sum (sx - sy)^2
    assert frechet_distance(x, y) == pytest.approx(closed_form, abs=0.03)


def test_frechet_distance_bad_shapes():
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_statistics(torch.zeros(1, 3))
