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

"""A 1-D convolutional mel-spectrogram denoiser conditioned on FastPitch's length-regulated encoding."""

from typing import Optional

import torch
from torch import nn

from nemo.core.classes import Exportable, NeuralModule
from nemo.core.neural_types import EncodedRepresentation, MaskType, MelSpectrogramType, NeuralType, VoidType
from nemo_distill.modules.embeddings import LogSnrEmbedding

__all__ = ["MelDenoiser"]


class _GatedResidualBlock(nn.Module):
    """WaveNet/DiffWave-style block: dilated conv of (h + noise embedding) plus conditioning, gated tanh * sigmoid."""

    def __init__(self, channels: int, cond_channels: int, dilation: int, kernel_size: int = 3):
        super().__init__()
        self.noise_proj = nn.Linear(channels, channels)
        self.dilated = nn.Conv1d(channels, 2 * channels, kernel_size, padding=dilation * (kernel_size - 1) // 2,
                                 dilation=dilation)
        self.cond_proj = nn.Conv1d(cond_channels, 2 * channels, 1)
        self.out = nn.Conv1d(channels, 2 * channels, 1)

    def forward(self, h, noise_embedding, cond, mask):
        y = self.dilated((h + self.noise_proj(noise_embedding)[:, :, None]) * mask) + self.cond_proj(cond)
        gate, filt = y.chunk(2, dim=1)
        y = torch.sigmoid(gate) * torch.tanh(filt)
        residual, skip = self.out(y).chunk(2, dim=1)
        return (h + residual) * (0.5**0.5), skip


class MelDenoiser(NeuralModule, Exportable):
    """``(z_t [B, n_mels, T], log_snr [B], cond [B, cond_channels, T], prior [B, n_mels, T], mask [B, 1, T])``
    ``-> prediction [B, n_mels, T]`` (eps, x0 or v: the model decides by its loss, not by this module).

    ``cond`` is FastPitch's length-regulated encoder output (+ pitch embedding) and ``prior`` FastPitch's own coarse
    mel (normalised); both are zeros for the unconditional model of classifier-free guidance. The output layer starts
    at zero, so an untrained v-model predicts ``x0 = alpha * z_t``: a direct path from the noisy input to the output.
    """

    def __init__(
        self,
        n_mels: int = 80,
        cond_channels: int = 384,
        channels: int = 128,
        num_blocks: int = 8,
        dilation_cycle: int = 4,
        kernel_size: int = 3,
    ):
        super().__init__()
        self.n_mels = n_mels
        self.cond_channels = cond_channels
        self.input = nn.Conv1d(2 * n_mels, channels, 1)
        self.cond_input = nn.Conv1d(cond_channels, channels, 1)
        self.embed_log_snr = LogSnrEmbedding(channels)
        self.blocks = nn.ModuleList(
            _GatedResidualBlock(channels, channels, 2 ** (i % dilation_cycle), kernel_size) for i in range(num_blocks)
        )
        self.output = nn.Sequential(nn.Conv1d(channels, channels, 1), nn.SiLU(), nn.Conv1d(channels, n_mels, 1))
        nn.init.zeros_(self.output[-1].weight)
        nn.init.zeros_(self.output[-1].bias)

    @property
    def input_types(self):
        return {
            "z_t": NeuralType(("B", "D", "T"), MelSpectrogramType()),
            "log_snr": NeuralType(("B",), VoidType()),
            "cond": NeuralType(("B", "D", "T"), EncodedRepresentation()),
            "prior": NeuralType(("B", "D", "T"), MelSpectrogramType()),
            "mask": NeuralType(("B", "C", "T"), MaskType()),
        }

    @property
    def output_types(self):
        return {"prediction": NeuralType(("B", "D", "T"), MelSpectrogramType())}

    def input_example(self, max_batch: int = 2, max_dim: int = 37):
        """A batch of two utterances, the second padded, for ONNX export (one denoiser step)."""
        parameter = next(self.parameters())
        z_t = torch.randn(max_batch, self.n_mels, max_dim, device=parameter.device)
        lengths = torch.tensor([max_dim] + [max_dim // 2] * (max_batch - 1), device=parameter.device)
        mask = (torch.arange(max_dim, device=parameter.device)[None, :] < lengths[:, None])[:, None, :].float()
        log_snr = torch.linspace(-5.0, 5.0, max_batch, device=parameter.device)
        cond = torch.randn(max_batch, self.cond_channels, max_dim, device=parameter.device)
        return (z_t, log_snr, cond, torch.randn_like(z_t), mask)

    def forward(
        self,
        z_t: torch.Tensor,
        log_snr: torch.Tensor,
        cond: torch.Tensor,
        prior: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        if mask is None:
            mask = torch.ones_like(z_t[:, :1])
        mask = mask.to(z_t.dtype)
        h = self.input(torch.cat([z_t, prior], dim=1) * mask)
        cond = self.cond_input(cond * mask)
        noise_embedding = self.embed_log_snr(log_snr)
        skip_sum = 0.0
        for block in self.blocks:
            h, skip = block(h, noise_embedding, cond, mask)
            skip_sum = skip_sum + skip
        return self.output(skip_sum * (len(self.blocks) ** -0.5)) * mask
