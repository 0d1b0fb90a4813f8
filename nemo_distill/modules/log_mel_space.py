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

"""The normalised log-mel space of fixed-length clips, through NeMo's preprocessor."""

import torch
from omegaconf import DictConfig
from torch import nn

from nemo.core.classes.common import safe_instantiate

__all__ = ["LogMelSpace"]


class LogMelSpace(nn.Module):
    """Audio ``[B, samples]`` -> ``x0 = (log_mel - mel_mean) / mel_scale`` ``[B, n_mels, frames]`` through NeMo's
    preprocessor (``preprocessor``: its config); :meth:`log_mel` maps ``x0`` back."""

    def __init__(self, preprocessor: DictConfig, frames: int, mel_mean: float, mel_scale: float):
        super().__init__()
        self.preprocessor = safe_instantiate(preprocessor)
        self.frames, self.mel_mean, self.mel_scale = int(frames), float(mel_mean), float(mel_scale)

    def forward(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> torch.Tensor:
        mel, _ = self.preprocessor(input_signal=audio, length=audio_lens)
        if mel.shape[-1] < self.frames:
            mel = nn.functional.pad(mel, (0, self.frames - mel.shape[-1]), value=self.mel_mean)
        return self.normalize(mel[..., : self.frames])

    def normalize(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, n_mels, T]`` -> ``x0``; the inverse of :meth:`log_mel`."""
        return (log_mel - self.mel_mean) / self.mel_scale

    def log_mel(self, x0: torch.Tensor) -> torch.Tensor:
        return self.mel_mean + self.mel_scale * x0
