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

"""NeMo's HiFi-GAN generator for mels framed the FastPitch way (STFT ``center=True``, ``exact_pad: false``).

Such a mel of ``n`` samples has ``n // hop + 1`` frames, so ``T`` frames stand for ``(T - 1) * hop`` samples.
NeMo's generator returns ``T * hop`` samples (right for ``exact_pad: true`` mels, NeMo's stock HiFi-GAN setting),
and ``HifiGanModel``'s mel loss then compares mels one frame apart in length. This generator drops the surplus
hop, so training, validation and inference all see matching lengths with the voice's own mel settings.
"""

import math

import torch

from nemo.collections.tts.modules.hifigan_modules import Generator
from nemo.core.classes.common import typecheck


class CenteredMelGenerator(Generator):
    """``Generator`` whose audio for a ``[B, n_mels, T]`` mel is ``[B, 1, (T - 1) * hop]``, hop = prod(upsample)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        upsample_rates = kwargs.get("upsample_rates", args[1] if len(args) > 1 else None)
        self.hop_length = int(math.prod(upsample_rates))

    @typecheck()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        audio = super().forward(x=x)
        return audio[..., : (x.shape[-1] - 1) * self.hop_length]
