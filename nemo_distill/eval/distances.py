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

"""Distances between sample sets."""

import torch

__all__ = ["frechet_distance", "gaussian_statistics", "mmd_squared", "sliced_wasserstein"]


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, num_projections: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between two equally sized point sets ``[N, D]``.

    Averages the squared 1-D Wasserstein-2 distance over random unit directions and takes the square root.
    """
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"need two [N, D] tensors of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(x.shape[1], num_projections, generator=generator, dtype=torch.float64)
    directions = directions / directions.norm(dim=0, keepdim=True)
    x_proj = torch.sort(x.double() @ directions, dim=0).values
    y_proj = torch.sort(y.double() @ directions, dim=0).values
    return float(((x_proj - y_proj) ** 2).mean().sqrt())


def mmd_squared(x: torch.Tensor, y: torch.Tensor, bandwidths=(0.1, 0.3, 1.0)) -> float:
    """Unbiased squared maximum mean discrepancy (Gretton et al. 2012) with a sum of RBF kernels.

    ``x`` ``[N, D]`` and ``y`` ``[M, D]``. Its expectation is exactly 0 when both sets come from the same
    distribution (single estimates can be slightly negative), so unlike the sliced Wasserstein distance of two
    finite sets it has no positive floor. ``bandwidths`` are kernel widths in data units.
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise ValueError(f"need [N, D] and [M, D] tensors with N, M >= 2, got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.double(), y.double()

    def kernel_sum(a, b):
        squared_distance = torch.cdist(a, b).pow(2)
        return sum(torch.exp(-squared_distance / (2 * w * w)) for w in bandwidths)

    def within(a):
        k = kernel_sum(a, a)
        n = len(a)
        return (k.sum() - k.diagonal().sum()) / (n * (n - 1))

    return float(within(x) + within(y) - 2 * kernel_sum(x, y).mean())


def gaussian_statistics(features: torch.Tensor):
    """Mean ``[D]`` and covariance ``[D, D]`` (float64, unbiased) of a feature set ``[N, D]``, N >= 2."""
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need an [N, D] tensor with N >= 2, got {tuple(features.shape)}")
    features = features.double()
    return features.mean(0), torch.cov(features.T).reshape(features.shape[1], features.shape[1])


def frechet_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``[N, D]`` and ``[M, D]`` (as in FID).

    ``|mu_x - mu_y|^2 + tr(S_x + S_y - 2 (S_x S_y)^(1/2))``; the trace of the matrix square root is the sum of the
    square roots of the eigenvalues of ``S_x^(1/2) S_y S_x^(1/2)``, which is symmetric PSD, so no complex
    ``sqrtm`` is needed. 0 for identical statistics. For mel spectrograms, rows are frames and ``D = n_mels``.
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need [N, D] and [M, D] tensors, got {tuple(x.shape)} and {tuple(y.shape)}")
    mu_x, cov_x = gaussian_statistics(x)
    mu_y, cov_y = gaussian_statistics(y)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov_x)
    sqrt_x = eigenvectors @ torch.diag(eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T
    middle = torch.linalg.eigvalsh(sqrt_x @ cov_y @ sqrt_x).clamp(min=0)
    trace_sqrt = middle.sqrt().sum()
    return float((mu_x - mu_y).pow(2).sum() + cov_x.trace() + cov_y.trace() - 2 * trace_sqrt)
