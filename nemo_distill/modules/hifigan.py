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
