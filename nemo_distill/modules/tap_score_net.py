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

"""The light score subnetwork of the classifier-guided generator: predicts the noise from a frozen classifier's taps.

``TapScoreNet(z_t [B, n_mels, T], log_snr [B], taps, grad_logsumexp=None) -> eps [B, n_mels, T]``. It works at the
resolution of the backbone's first tap (``stride``: the backbone's stem stride, 1 or 2):

1. ``z_t`` (and, optionally, ``grad_z logsumexp(logits)``, the gradient of the classifier's implied ``log p(z_t)``)
   through a 3x3 convolution to ``width`` channels at full resolution (``h_full``);
2. ``h_full`` brought down to the first tap's level by a ``stride`` convolution; with ``own_encoder``, further down
   to every deeper tap's level by a trainable noise-conditioned residual block of stride 2 each (``width``
   channels: a thin encoder of its own beside the frozen one, so that the deep levels see where the energy of
   ``z_t`` lies and not only the backbone's class evidence, which is all that is left there at high noise);
3. a top-down pathway over the taps ``[B, C_i, F_i, T_i]`` (the backbone's stage outputs, see
   :class:`~nemo_distill.modules.noisy_classifier.NoisyMelClassifier`), deepest first, as a U-Net decoder or a
   feature pyramid: at each level the tap through a 1x1 convolution to ``width`` channels plus the coarser level's
   result upsampled (nearest) plus the level's own features from 2 (where there are any), then ``num_blocks``
   noise-conditioned residual blocks;
4. upsampled (nearest) to ``[n_mels, T]``, ``h_full`` added, and a 3x3 convolution to one channel, which starts at
   zero.

The blocks at the coarse levels cost little (an eighth of the resolution is 1/64 of the pixels); all the heavy
feature extraction is the frozen backbone's, which the sampler runs anyway for the guidance gradient.
"""

from typing import List, Optional, Sequence

import torch
from torch import nn

from nemo.core.classes import NeuralModule
from nemo.core.neural_types import MelSpectrogramType, NeuralType, PredictionsType, VoidType
from nemo_distill.modules.embeddings import LogSnrEmbedding
from nemo_distill.modules.noisy_classifier import NoiseConditionedResBlock, _group_norm

__all__ = ["TapScoreNet"]


class TapScoreNet(NeuralModule):
    def __init__(self, n_mels: int, tap_channels: Sequence[int], width: int = 32, embedding_dim: int = 64,
                 num_blocks: int = 2, use_logsumexp_grad: bool = False, stride: int = 1,
                 own_encoder: bool = False):
        super().__init__()
        self.n_mels = int(n_mels)
        self.tap_channels = tuple(int(c) for c in tap_channels)
        self.use_logsumexp_grad = bool(use_logsumexp_grad)
        self.input = nn.Conv2d(2 if self.use_logsumexp_grad else 1, width, 3, padding=1)
        self.down = nn.Conv2d(width, width, 3, stride=stride, padding=1) if stride > 1 else nn.Identity()
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in self.tap_channels)
        self.embed_log_snr = LogSnrEmbedding(embedding_dim)
        self.encoder = nn.ModuleList(  # encoder[i]: from tap i's level to tap i + 1's (empty without own_encoder)
            NoiseConditionedResBlock(width, width, embedding_dim, stride=2)
            for _ in (self.tap_channels[1:] if own_encoder else ()))
        self.blocks = nn.ModuleList(  # blocks[i]: the residual blocks at tap i's level
            nn.ModuleList(NoiseConditionedResBlock(width, width, embedding_dim) for _ in range(num_blocks))
            for _ in self.tap_channels)
        self.output_norm = _group_norm(width)
        self.output = nn.Conv2d(width, 1, 3, padding=1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    @property
    def input_types(self):
        return {"z_t": NeuralType(("B", "D", "T"), MelSpectrogramType()), "log_snr": NeuralType(("B",), VoidType()),
                "taps": [NeuralType(("B", "C", "H", "W"), VoidType())],
                "grad_logsumexp": NeuralType(("B", "D", "T"), VoidType(), optional=True)}

    @property
    def output_types(self):
        return {"eps": NeuralType(("B", "D", "T"), PredictionsType())}

    def forward(self, z_t: torch.Tensor, log_snr: torch.Tensor, taps: List[torch.Tensor],
                grad_logsumexp: Optional[torch.Tensor] = None) -> torch.Tensor:
        if len(taps) != len(self.lateral):
            raise ValueError(f"expected {len(self.lateral)} taps, got {len(taps)}")
        inputs = [z_t[:, None]]
        if self.use_logsumexp_grad:
            if grad_logsumexp is None:
                raise ValueError("this TapScoreNet reads grad_z logsumexp(logits): pass grad_logsumexp")
            inputs.append(grad_logsumexp[:, None])
        h_full = self.input(torch.cat(inputs, dim=1))
        embedding = self.embed_log_snr(log_snr)
        own = [self.down(h_full)]  # own[i]: z_t's own features at tap i's level
        for block in self.encoder:
            own.append(block(own[-1], embedding))
        h = None
        for level in reversed(range(len(taps))):
            lateral = self.lateral[level](taps[level])
            h = lateral if h is None else lateral + _resize(h, lateral)
            if level < len(own):
                h = h + _resize(own[level], lateral)
            for block in self.blocks[level]:
                h = block(h, embedding)
        h = _resize(h, h_full) + h_full
        return self.output(nn.functional.silu(self.output_norm(h)))[:, 0]


def _resize(h: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``h`` ``[B, C, H, W]`` resized (nearest) to ``like``'s height and width, if they differ."""
    if h.shape[-2:] == like.shape[-2:]:
        return h
    return nn.functional.interpolate(h, size=like.shape[-2:], mode="nearest")
