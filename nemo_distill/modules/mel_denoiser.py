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

"""A 1-D convolutional mel-spectrogram denoiser conditioned on FastPitch's length-regulated encoding.

Layer budgets (cheaper calls, after ASE, Moon et al. 2024, and Presto!-L, Novack et al. 2025): a call may run only
the first ``layer_budget`` of its residual blocks (early exit; the input and output layers always run). The same
weights serve every budget: the fraction of blocks dropped is embedded beside the noise level (a zero-initialised
projection whose output is multiplied by zero at full depth, so a full-depth call is exactly the model without
budgets), and the
skip stream the output layer reads is rescaled per budget (``skip_scales``) so that it keeps the full model's
variance. See :meth:`MelDenoiser.calibrate_skip_scales` and ``budget_rescale``.
"""

import math
from typing import Optional

import torch
from torch import nn

from nemo.core.classes import Exportable, NeuralModule
from nemo.core.neural_types import EncodedRepresentation, MaskType, MelSpectrogramType, NeuralType, VoidType
from nemo_distill.modules.embeddings import LogSnrEmbedding

__all__ = ["BUDGET_RESCALES", "MelDenoiser", "initial_skip_scales"]

# the initial scale of a reduced call's skip stream (MelDenoiser.calibrate_skip_scales measures better ones):
# "none": as in the full model, sum / sqrt(N); "sqrt": sum / sqrt(n), variance-preserving for uncorrelated skips
BUDGET_RESCALES = ("none", "sqrt")


def initial_skip_scales(num_blocks: int, budget_rescale: str) -> torch.Tensor:
    """``[N]``: entry ``n - 1`` scales the sum of ``n`` blocks' skips (``budget_rescale``: see
    :data:`BUDGET_RESCALES`); the full depth's is always ``1 / sqrt(N)``."""
    if budget_rescale not in BUDGET_RESCALES:
        raise ValueError(f"unknown budget_rescale {budget_rescale!r}; valid options: {list(BUDGET_RESCALES)}")
    kept = torch.arange(1, num_blocks + 1, dtype=torch.float32)
    scales = kept.rsqrt() if budget_rescale == "sqrt" else torch.full_like(kept, num_blocks**-0.5)
    scales[-1] = num_blocks**-0.5
    return scales


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
    ``forward(..., layer_budget=n)`` runs the first ``n`` of the ``num_blocks`` residual blocks (module docstring);
    ``budget_rescale`` (:data:`BUDGET_RESCALES`) sets the initial ``skip_scales``.
    """

    def __init__(
        self,
        n_mels: int = 80,
        cond_channels: int = 384,
        channels: int = 128,
        num_blocks: int = 8,
        dilation_cycle: int = 4,
        kernel_size: int = 3,
        budget_rescale: str = "sqrt",
    ):
        super().__init__()
        skip_scales = initial_skip_scales(num_blocks, budget_rescale)  # checks budget_rescale before any work
        self.budget_rescale = budget_rescale
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
        # the budget as an input: the fraction of blocks dropped -> an embedding added to the noise embedding
        self.embed_budget = nn.Sequential(nn.Linear(1, channels), nn.SiLU(), nn.Linear(channels, channels))
        nn.init.zeros_(self.embed_budget[-1].weight)
        nn.init.zeros_(self.embed_budget[-1].bias)
        # skip_scales[n - 1]: the factor on the sum of n blocks' skips; the full model's 1 / sqrt(N) at n = N
        self.register_buffer("skip_scales", skip_scales)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def check_layer_budget(self, layer_budget: Optional[int]) -> int:
        """``layer_budget`` (None: all blocks) as the number of residual blocks a call runs, checked."""
        if layer_budget is None:
            return self.num_blocks
        if isinstance(layer_budget, bool) or not isinstance(layer_budget, int) \
                or not 1 <= layer_budget <= self.num_blocks:
            raise ValueError(f"layer_budget must be an integer in 1..{self.num_blocks} (the denoiser's residual "
                             f"blocks), got {layer_budget!r}")
        return int(layer_budget)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a denoiser saved before layer budgets existed: an untrained budget embedding (its zero output layer, so
        # no effect at any budget) and the initial skip scales
        missing = {"skip_scales": initial_skip_scales(self.num_blocks, self.budget_rescale),
                   **{f"embed_budget.{k}": v.detach().clone() for k, v in self.embed_budget.state_dict().items()}}
        missing["embed_budget.2.weight"].zero_()
        missing["embed_budget.2.bias"].zero_()
        for name, value in missing.items():
            state_dict.setdefault(prefix + name, value)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

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
        layer_budget: Optional[int] = None,
    ) -> torch.Tensor:
        """The prediction ``[B, n_mels, T]``, running the first ``layer_budget`` residual blocks (None: all)."""
        if mask is None:
            mask = torch.ones_like(z_t[:, :1])
        mask = mask.to(z_t.dtype)
        return self.output(self.skip_stream(z_t, log_snr, cond, prior, mask, layer_budget)) * mask

    def skip_stream(self, z_t, log_snr, cond, prior, mask, layer_budget: Optional[int] = None,
                    rescale: bool = True) -> torch.Tensor:
        """What the output layer reads ``[B, channels, T]``: the sum of the kept blocks' skips times
        ``skip_scales[n - 1]`` (with ``rescale=False``: times the full model's ``1 / sqrt(N)``)."""
        kept = self.check_layer_budget(layer_budget)
        mask = mask.to(z_t.dtype)
        h = self.input(torch.cat([z_t, prior], dim=1) * mask)
        cond = self.cond_input(cond * mask)
        noise_embedding = self.embed_log_snr(log_snr)
        dropped = torch.full_like(noise_embedding[:, :1], 1.0 - kept / self.num_blocks)
        if kept < self.num_blocks:  # the budget as an input; zero at full depth, which stays the original model
            noise_embedding = noise_embedding + self.embed_budget(dropped)
        else:  # zero, but in the graph: DDP expects a gradient for every parameter at full depth too
            noise_embedding = noise_embedding + 0.0 * self.embed_budget(dropped)
        skip_sum = 0.0
        for block in self.blocks[:kept]:
            h, skip = block(h, noise_embedding, cond, mask)
            skip_sum = skip_sum + skip
        if kept == self.num_blocks or not rescale:
            return skip_sum * self.num_blocks**-0.5
        return skip_sum * self.skip_scales[kept - 1]

    @torch.no_grad()
    def calibrate_skip_scales(self, z_t, log_snr, cond, prior, mask) -> torch.Tensor:
        """Set ``skip_scales`` so that, on this batch, the output layer's input at every budget has the RMS it has at
        full depth (over valid frames and channels); returns the new scales ``[N]``. The full depth keeps
        ``1 / sqrt(N)``."""
        mask = mask.to(z_t.dtype)
        frames = (mask.sum() * self.blocks[0].out.in_channels).clamp(min=1)
        rms = lambda x: ((x**2 * mask).sum() / frames).sqrt()  # noqa: E731
        full = rms(self.skip_stream(z_t, log_snr, cond, prior, mask, rescale=False))
        for kept in range(1, self.num_blocks):
            raw = rms(self.skip_stream(z_t, log_snr, cond, prior, mask, kept, rescale=False)) * math.sqrt(
                self.num_blocks)
            self.skip_scales[kept - 1] = full / raw.clamp(min=1e-12)
        return self.skip_scales.clone()
