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

"""A light real/fake head on a denoiser's features (DMD2's ``cls_pred_branch``, for 1-D mel features).

``FeatureDiscriminator(features [B, C, T], mask [B, 1, T]) -> logits [B]``: two ``Conv1d -> GroupNorm -> SiLU``
layers, a mean over valid frames and a linear layer to one logit per utterance. DMD2 puts it on the fake denoiser's
bottleneck; here it reads the skip stream a :class:`~nemo_distill.modules.mel_denoiser.MelDenoiser` hands its output
layer (:meth:`~nemo_distill.modules.mel_decoder.DiffusionMelDecoder.features`).
"""

import torch
from torch import nn

from nemo.core.classes import NeuralModule
from nemo.core.neural_types import EncodedRepresentation, LogitsType, MaskType, NeuralType

__all__ = ["FeatureDiscriminator"]


class FeatureDiscriminator(NeuralModule):
    def __init__(self, channels: int, hidden: int = 64, kernel_size: int = 5):
        super().__init__()
        layers = []
        for i in range(2):
            layers += [nn.Conv1d(channels if i == 0 else hidden, hidden, kernel_size, padding=kernel_size // 2),
                       nn.GroupNorm(min(8, hidden), hidden), nn.SiLU()]
        self.body = nn.Sequential(*layers)
        self.logit = nn.Linear(hidden, 1)

    @property
    def input_types(self):
        return {"features": NeuralType(("B", "D", "T"), EncodedRepresentation()),
                "mask": NeuralType(("B", "C", "T"), MaskType())}

    @property
    def output_types(self):
        return {"logits": NeuralType(("B",), LogitsType())}

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(features.dtype)
        h = self.body(features * mask) * mask
        pooled = h.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1.0)
        return self.logit(pooled).squeeze(-1)
