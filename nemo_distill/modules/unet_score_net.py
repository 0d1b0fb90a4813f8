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

"""A noise-conditioned 2-D U-Net that predicts the noise of a log-mel: the two-model baseline's score network.

``UNetScoreNet(z_t [B, n_mels, T], log_snr [B]) -> eps [B, n_mels, T]``. Built from the same residual blocks as the
classifier backbone (:class:`~nemo_distill.modules.noisy_classifier.NoiseConditionedResBlock`, FiLM noise
embedding): a 3x3 input convolution at full resolution, a ``stem_stride`` convolution down to the working
resolution, an encoder of ``len(channels)`` levels (``blocks_per_level`` blocks each, every level after the first
halving height and width), a middle block, a mirrored decoder whose first block at each level reads the encoder's
output of that level (concatenated skip, as in DDPM/ADM), upsampling (nearest) back to full resolution, the
full-resolution input features added, and a 3x3 output convolution that starts at zero. Its encoder alone is the
size of the classifier backbone; the decoder roughly doubles it, as in a usual diffusion U-Net.
"""

from typing import Sequence

import torch
from torch import nn

from nemo.core.classes import NeuralModule
from nemo.core.neural_types import MelSpectrogramType, NeuralType, PredictionsType, VoidType
from nemo_distill.modules.embeddings import LogSnrEmbedding
from nemo_distill.modules.noisy_classifier import NoiseConditionedResBlock, _group_norm

__all__ = ["UNetScoreNet"]


class UNetScoreNet(NeuralModule):
    def __init__(self, n_mels: int, channels: Sequence[int] = (32, 64, 128), blocks_per_level: int = 2,
                 embedding_dim: int = 128, stem_stride: int = 2):
        super().__init__()
        self.n_mels = int(n_mels)
        self.channels = tuple(int(c) for c in channels)
        width = self.channels[0]
        self.input = nn.Conv2d(1, width, 3, padding=1)
        self.down = nn.Conv2d(width, width, 3, stride=stem_stride, padding=1) if stem_stride > 1 else nn.Identity()
        self.embed_log_snr = LogSnrEmbedding(embedding_dim)
        self.encoder = nn.ModuleList()
        previous = width
        for i, c in enumerate(self.channels):
            blocks = [NoiseConditionedResBlock(previous, c, embedding_dim, stride=2 if i > 0 else 1)]
            blocks += [NoiseConditionedResBlock(c, c, embedding_dim) for _ in range(blocks_per_level - 1)]
            self.encoder.append(nn.ModuleList(blocks))
            previous = c
        self.middle = NoiseConditionedResBlock(previous, previous, embedding_dim)
        self.decoder = nn.ModuleList()
        for c in reversed(self.channels):
            blocks = [NoiseConditionedResBlock(previous + c, c, embedding_dim)]
            blocks += [NoiseConditionedResBlock(c, c, embedding_dim) for _ in range(blocks_per_level - 1)]
            self.decoder.append(nn.ModuleList(blocks))
            previous = c
        self.output_norm = _group_norm(previous)
        self.output = nn.Conv2d(previous, 1, 3, padding=1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    @property
    def input_types(self):
        return {"z_t": NeuralType(("B", "D", "T"), MelSpectrogramType()), "log_snr": NeuralType(("B",), VoidType())}

    @property
    def output_types(self):
        return {"eps": NeuralType(("B", "D", "T"), PredictionsType())}

    def forward(self, z_t: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        embedding = self.embed_log_snr(log_snr)
        h_full = self.input(z_t[:, None])
        h = self.down(h_full)
        skips = []
        for blocks in self.encoder:
            for block in blocks:
                h = block(h, embedding)
            skips.append(h)
        h = self.middle(h, embedding)
        for blocks, skip in zip(self.decoder, reversed(skips)):
            h = nn.functional.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = blocks[0](torch.cat([h, skip], dim=1), embedding)
            for block in blocks[1:]:
                h = block(h, embedding)
        h = nn.functional.interpolate(h, size=h_full.shape[-2:], mode="nearest") + h_full
        return self.output(nn.functional.silu(self.output_norm(h)))[:, 0]
