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

"""A small MLP denoiser for 2-D toy data."""

import torch
from torch import nn

from nemo_distill.modules.embeddings import LogSnrEmbedding

__all__ = ["ToyMLPDenoiser"]


class ToyMLPDenoiser(nn.Module):
    """``(z_t [B, D], log_snr [B]) -> prediction [B, D]``: residual MLP with the noise level added to each block."""

    def __init__(self, data_dim: int = 2, hidden_dim: int = 256, num_blocks: int = 3):
        super().__init__()
        self.embed_log_snr = LogSnrEmbedding(hidden_dim)
        self.input = nn.Linear(data_dim, hidden_dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(hidden_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim))
            for _ in range(num_blocks)
        )
        self.output = nn.Sequential(nn.SiLU(), nn.Linear(hidden_dim, data_dim))

    def forward(self, z_t: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        noise_embedding = self.embed_log_snr(log_snr)
        h = self.input(z_t)
        for block in self.blocks:
            h = h + block(h + noise_embedding)
        return self.output(h)
