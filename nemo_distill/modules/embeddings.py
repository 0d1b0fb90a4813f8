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

"""Noise-level embeddings shared by the denoisers."""

import math

import torch
from torch import nn

__all__ = ["LogSnrEmbedding"]


class LogSnrEmbedding(nn.Module):
    """Sinusoidal features of ``log_snr`` ``[B]`` followed by a two-layer MLP: ``[B] -> [B, dim]``.

    log-SNR spans roughly [-20, 20]; it is scaled by ``1 / 4`` before the usual transformer frequencies.
    """

    def __init__(self, dim: int, num_frequencies: int = 32, max_period: float = 1000.0):
        super().__init__()
        frequencies = torch.exp(-math.log(max_period) * torch.arange(num_frequencies) / num_frequencies)
        self.register_buffer("frequencies", frequencies, persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * num_frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, log_snr: torch.Tensor) -> torch.Tensor:
        angles = 0.25 * log_snr.float()[:, None] * 100.0 * self.frequencies[None, :]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))
