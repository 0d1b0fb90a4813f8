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

"""A noise-conditioned log-mel classifier whose intermediate features can be tapped (the generator's backbone).

``NoisyMelClassifier((z_t [B, n_mels, T], log_snr [B]) -> logits [B, num_classes])``: a small 2-D ResNet over the
(mel, time) plane, every residual block told the noise level through a log-SNR embedding (FiLM-style shift), so it
classifies noised inputs ``z_t`` at any level (trained with cross-entropy on ``z_t`` across all levels). Its
``taps`` are the outputs of each stage: ``[B, channels[i], F_i, T_i]`` with ``F_0 = ceil(n_mels / stem_stride)``,
``T_0 = ceil(T / stem_stride)`` and every later stage halving both (rounded up). A stem stride of 2 runs every stage
at half resolution or less: four times fewer multiply-accumulates than a full-resolution first stage (the convolutions
are all the cost on a CPU).
"""

from typing import List, Sequence, Tuple

import torch
from torch import nn

from nemo.core.classes import NeuralModule
from nemo.core.neural_types import LogitsType, MelSpectrogramType, NeuralType, VoidType
from nemo_distill.modules.embeddings import LogSnrEmbedding

__all__ = ["NoiseConditionedResBlock", "NoisyMelClassifier"]


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class NoiseConditionedResBlock(nn.Module):
    """Pre-activation residual block (GroupNorm, SiLU, 3x3 conv, twice); the noise embedding scales and shifts the
    second norm's output (FiLM, as ADM's scale-shift norm: a shift added before a GroupNorm would be normalised
    away). ``stride`` 2 halves height and width (and a 1x1 conv matches the skip path)."""

    def __init__(self, in_channels: int, out_channels: int, embedding_dim: int, stride: int = 1):
        super().__init__()
        self.norm1 = _group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.embedding = nn.Linear(embedding_dim, 2 * out_channels)
        self.norm2 = _group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = (nn.Identity() if stride == 1 and in_channels == out_channels
                     else nn.Conv2d(in_channels, out_channels, 1, stride=stride))

    def forward(self, h: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """``h`` ``[B, C_in, F, T]``, ``embedding`` ``[B, E]`` -> ``[B, C_out, F', T']``."""
        y = self.conv1(torch.nn.functional.silu(self.norm1(h)))
        scale, shift = self.embedding(embedding)[:, :, None, None].chunk(2, dim=1)
        y = self.conv2(torch.nn.functional.silu(self.norm2(y) * (1 + scale) + shift))
        return self.skip(h) + y


class NoisyMelClassifier(NeuralModule):
    """``(z_t [B, n_mels, T], log_snr [B]) -> logits [B, num_classes]``; :meth:`forward_with_taps` also returns the
    stage outputs (see the module docstring). Inputs are normalised log-mels (the diffusion space ``x0`` and its
    noised versions), not raw log-mels."""

    def __init__(self, n_mels: int = 64, num_classes: int = 10, channels: Sequence[int] = (32, 64, 128),
                 blocks_per_stage: int = 2, embedding_dim: int = 128, stem_stride: int = 1):
        super().__init__()
        self.n_mels, self.num_classes = int(n_mels), int(num_classes)
        self.channels = tuple(int(c) for c in channels)
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
        self.stem_stride = int(stem_stride)
        self.embed_log_snr = LogSnrEmbedding(embedding_dim)
        self.stem = nn.Conv2d(1, self.channels[0], 3, stride=self.stem_stride, padding=1)
        self.stages = nn.ModuleList()
        previous = self.channels[0]
        for i, width in enumerate(self.channels):
            blocks = [NoiseConditionedResBlock(previous, width, embedding_dim, stride=2 if i > 0 else 1)]
            blocks += [NoiseConditionedResBlock(width, width, embedding_dim) for _ in range(blocks_per_stage - 1)]
            self.stages.append(nn.ModuleList(blocks))
            previous = width
        self.head_norm = _group_norm(previous)
        self.head = nn.Linear(previous, self.num_classes)

    @property
    def input_types(self):
        return {"z_t": NeuralType(("B", "D", "T"), MelSpectrogramType()),
                "log_snr": NeuralType(("B",), VoidType())}

    @property
    def output_types(self):
        return {"logits": NeuralType(("B", "D"), LogitsType())}

    def tap_shapes(self, frames: int) -> List[Tuple[int, int, int]]:
        """``(channels, F_i, T_i)`` of each tap for inputs of ``frames`` frames."""
        shapes, height, width = [], -(-self.n_mels // self.stem_stride), -(-frames // self.stem_stride)
        for i, channels in enumerate(self.channels):
            if i > 0:
                height, width = (height + 1) // 2, (width + 1) // 2
            shapes.append((channels, height, width))
        return shapes

    def forward_with_taps(self, z_t: torch.Tensor, log_snr: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """``(logits [B, num_classes], taps)``, taps as in :meth:`tap_shapes`."""
        embedding = self.embed_log_snr(log_snr)
        h = self.stem(z_t[:, None])
        taps = []
        for blocks in self.stages:
            for block in blocks:
                h = block(h, embedding)
            taps.append(h)
        pooled = torch.nn.functional.silu(self.head_norm(h)).mean(dim=(2, 3))
        return self.head(pooled), taps

    def forward(self, z_t: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        return self.forward_with_taps(z_t, log_snr)[0]
