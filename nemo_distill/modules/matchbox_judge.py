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

"""An independent clean-speech digit classifier on log-mel: NeMo's MatchboxNet, the judge of generated digits.

``MatchboxMelClassifier((x0 [B, n_mels, T], log_snr [B]) -> logits [B, num_classes])``: NeMo's ``ConvASREncoder``
with MatchboxNet's 1-D time-channel separable blocks (Majumdar & Ginsburg, 2020; NeMo's speech-commands model)
and NeMo's ``ConvASRDecoderClassification`` (average pooling over time, a linear layer). ``log_snr`` is accepted
for the classifier interface of :class:`~nemo_distill.models.noisy_classifier.NoisyClassifierModel` and ignored:
the judge is trained on clean clips only (``train_max_time: 0``) and never sees noise. A different architecture
(1-D separable convolutions over time, batch norm) from the 2-D ResNet backbone it judges, so it does not share its
blind spots. :meth:`embed` gives the pooled encoder features ``[B, filters[-1]]``, the space the benchmark's
Frechet distance and diversity are measured in, and :meth:`head` their logits (``forward`` is the two in turn).
"""

from typing import Sequence

import torch

from nemo.collections.asr.modules import ConvASRDecoderClassification, ConvASREncoder
from nemo.core.classes import NeuralModule
from nemo.core.neural_types import LogitsType, MelSpectrogramType, NeuralType, VoidType

__all__ = ["MatchboxMelClassifier"]


class MatchboxMelClassifier(NeuralModule):
    """``filters``/``kernels``/``dilations``: one entry per MatchboxNet block (prologue, ``B`` residual blocks,
    two epilogue blocks); the defaults are MatchboxNet 3x1x64."""

    def __init__(self, n_mels: int = 64, num_classes: int = 10,
                 filters: Sequence[int] = (128, 64, 64, 64, 128, 128),
                 kernels: Sequence[int] = (11, 13, 15, 17, 29, 1), dilations: Sequence[int] = (1, 1, 1, 1, 2, 1),
                 dropout: float = 0.0):
        super().__init__()
        if not len(filters) == len(kernels) == len(dilations) >= 3:
            raise ValueError("filters, kernels and dilations need one entry per block (at least 3)")
        self.n_mels, self.num_classes = int(n_mels), int(num_classes)
        last = len(filters) - 1
        blocks = [{"filters": int(f), "repeat": 1, "kernel": [int(k)], "stride": [1], "dilation": [int(d)],
                   "dropout": float(dropout), "residual": 0 < i < last - 1, "separable": True}
                  for i, (f, k, d) in enumerate(zip(filters, kernels, dilations))]
        self.encoder = ConvASREncoder(jasper=blocks, activation="relu", feat_in=self.n_mels)
        self.decoder = ConvASRDecoderClassification(feat_in=int(filters[-1]), num_classes=self.num_classes)

    @property
    def input_types(self):
        return {"z_t": NeuralType(("B", "D", "T"), MelSpectrogramType()), "log_snr": NeuralType(("B",), VoidType())}

    @property
    def output_types(self):
        return {"logits": NeuralType(("B", "D"), LogitsType())}

    def embed(self, x0: torch.Tensor) -> torch.Tensor:
        """Pooled encoder features ``[B, filters[-1]]`` of normalised log-mels ``x0`` ``[B, n_mels, T]``."""
        lengths = torch.full((x0.shape[0],), x0.shape[-1], dtype=torch.long, device=x0.device)
        encoded, _ = self.encoder(audio_signal=x0, length=lengths)
        return encoded.mean(dim=-1)

    def head(self, embedding: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of pooled features ``[B, filters[-1]]`` (the decoder's linear layer)."""
        return self.decoder.decoder_layers(embedding)

    def forward(self, z_t: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(z_t))
