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

"""What a ``DiffusionSpectrogramGenerator`` exports: NeMo ``Exportable`` modules, one per deployed graph.

* :class:`FrontendGraph`: text tokens ``[B, L]`` -> FastPitch's length-regulated encoding ``cond [B, D, T]``, its
  coarse mel ``[B, n_mels, T]`` and ``mel_lens [B]`` (encoder, durations, pitch, length regulation, decoder: the
  same ``infer`` path :meth:`~DiffusionSpectrogramGenerator.encode` runs). Riva deploys FastPitch's front-end the
  same way, as one graph.
* :class:`UnrolledSamplerGraph`: ``cond``, ``coarse_mel``, ``mel_lens`` and the starting noise ``[B, n_mels, >= T]``
  -> log-mel ``[B, n_mels, T]``, the whole K-step deterministic sampler unrolled into one graph (K denoiser calls,
  the schedule's log-SNRs folded in as constants): the form a distilled 1-8 step student is deployed in. The noise
  is an input, so an output is reproducible; it is cropped to ``T`` inside the graph, so a client that does not
  know ``T`` yet can send ``max_token_duration * L`` frames.
* :class:`DenoiserStepGraph`: one denoiser call at a layer budget, for runtimes that drive the loop.

A layer budget (residual blocks per denoiser call) is a constant of a graph: the exported file holds only the blocks
it runs.

Each graph calls the model's own code (the front-end's ``encode``, the decoder's ``decode``), so the exported
computation is the one PyTorch runs, not a copy of it. Nothing here imports the models: a graph takes the decoder
module and the front-end's ``encode`` (tokens -> cond, coarse mel, lengths).
"""

from typing import Callable, Optional

import torch

from nemo.core.classes import Exportable, NeuralModule
from nemo.core.neural_types import (
    EncodedRepresentation,
    LengthsType,
    MelSpectrogramType,
    NeuralType,
    TokenIndex,
    VoidType,
)
from nemo.core.utils.neural_type_utils import get_dynamic_axes
from nemo.utils import logging
from nemo_distill.diffusion import SamplingOptions

__all__ = ["DenoiserStepGraph", "FrontendGraph", "UnrolledSamplerGraph", "export_sampler_steps", "STOCHASTIC_SAMPLERS"]

STOCHASTIC_SAMPLERS = ("ddpm",)  # draw fresh noise at every step: cannot be a fixed graph of the starting noise


def export_sampler_steps(model, steps: Optional[int] = None, allow_step_mismatch: bool = False) -> int:
    """The K an unrolled sampler is exported with, after checking it makes sense for ``model`` (anything with the
    voice's ``cfg``).

    A distilled student (``cfg.distillation.steps``) is trained for exactly its step count: that is the default,
    and another K is refused unless ``allow_step_mismatch`` (then a loud warning). A model that was not distilled
    has no fixed step count: its ``default_steps`` is only a sampling default, so K must be given explicitly.
    """
    distillation = model.cfg.get("distillation") or {}
    trained = distillation.get("steps")
    if steps is None:
        if trained is None:
            raise ValueError(
                "this model's sampler step count is not fixed (it is not a distilled student: no "
                "cfg.distillation.steps): pass the number of steps to unroll explicitly (steps=K, --steps K)"
            )
        steps = int(trained)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if trained is not None and steps != int(trained):
        message = (f"exporting {steps} sampling steps, but this student was distilled for {int(trained)} steps: its "
                   f"outputs at {steps} steps are not what it was trained to produce")
        if not allow_step_mismatch:
            raise ValueError(message + "; pass allow_step_mismatch=True (--allow-step-mismatch) to export anyway")
        logging.warning("!" * 80 + "\n" + message + " (allowed by allow_step_mismatch)\n" + "!" * 80)
    return steps


def _encoding_types():
    """What the front-end graph outputs and the sampler graph reads: the length-regulated encoding, the coarse mel
    and the lengths."""
    return {
        "cond": NeuralType(("B", "D", "T"), EncodedRepresentation()),
        "coarse_mel": NeuralType(("B", "D", "T"), MelSpectrogramType()),
        "mel_lens": NeuralType(("B",), LengthsType()),
    }


class _VoiceGraph(NeuralModule, Exportable):
    """Common part: exports dynamic batch/time axes for inputs *and* outputs, makes example tokens, and tears down
    the export state NeMo's ``Exportable`` sets on every exportable submodule (FastPitchModel sets its export
    types). ``encode``: the front-end, ``tokens [B, L] -> (cond, coarse_mel, mel_lens)``; ``pad``: its pad id."""

    def __init__(self, encode: Callable, pad: int):
        super().__init__()
        self._encode, self._pad = encode, int(pad)

    def dynamic_shapes_for_export(self, use_dynamo=False):
        axes = dict(get_dynamic_axes(self.input_types, self.input_names, use_dynamo))
        axes.update(get_dynamic_axes(self.output_types, self.output_names, use_dynamo))
        return axes

    def _example_tokens(self, max_batch: int, max_dim: int, device) -> torch.Tensor:
        """``[max_batch, max_dim]`` random character ids, every row but the first padded to half length."""
        generator = torch.Generator().manual_seed(0)
        tokens = torch.randint(1, self._pad, (max_batch, max_dim), generator=generator)
        tokens[1:, max(1, max_dim // 2):] = self._pad
        return tokens.to(device)

    def _export_teardown(self):
        for module in self.modules():
            if module is not self and isinstance(module, Exportable):
                module._export_teardown()


class FrontendGraph(_VoiceGraph):
    """FastPitch front-end: ``tokens [B, L]`` (padded with the tokenizer's pad id) -> ``cond [B, D, T]``,
    ``coarse_mel [B, n_mels, T]``, ``mel_lens [B]``. ``model``: the voice (its FastPitch modules are exported)."""

    def __init__(self, model: torch.nn.Module, encode: Callable, pad: int):
        super().__init__(encode, pad)
        self.model = model

    @property
    def input_types(self):
        return {"tokens": NeuralType(("B", "T"), TokenIndex())}

    @property
    def output_types(self):
        return _encoding_types()

    def input_example(self, max_batch: int = 2, max_dim: int = 24):
        return (self._example_tokens(max_batch, max_dim, next(self.model.parameters()).device),)

    def forward(self, tokens):
        cond, coarse_mel, mel_lens = self._encode(tokens)
        return cond, coarse_mel, mel_lens.long()


class UnrolledSamplerGraph(_VoiceGraph):
    """K deterministic sampler steps of ``decoder`` in one graph: ``cond [B, D, T]``, ``coarse_mel [B, n_mels, T]``,
    ``mel_lens [B]``, ``noise [B, n_mels, T_noise >= T]`` -> ``mel [B, n_mels, T]`` (frames past each length at
    the log-mel floor), exactly :meth:`~nemo_distill.modules.mel_decoder.DiffusionMelDecoder.decode` with ``noise``
    given, at ``layer_budget`` residual blocks per call (None: the model's default). ``encode`` and ``pad`` make the
    example inputs."""

    def __init__(self, decoder: torch.nn.Module, encode: Callable, pad: int, steps: int, guidance_scale: float = 0.0,
                 layer_budget: Optional[int] = None):
        super().__init__(encode, pad)
        decoder.check_layer_budget(layer_budget)
        sampler = decoder.settings.sampler
        if sampler in STOCHASTIC_SAMPLERS:
            raise ValueError(f"the model's sampler {sampler!r} draws new noise at every step; only deterministic "
                             "samplers (ddim, dpmpp_2m) can be exported as a fixed graph of the starting noise")
        self.decoder = decoder
        self.steps, self.sampler, self.guidance_scale = int(steps), sampler, float(guidance_scale)
        self.layer_budget = layer_budget if layer_budget is not None else decoder.settings.layer_budget

    @property
    def input_types(self):
        return {**_encoding_types(), "noise": NeuralType(("B", "D", "T"), VoidType())}

    @property
    def output_types(self):
        return {"mel": NeuralType(("B", "D", "T"), MelSpectrogramType())}

    def input_example(self, max_batch: int = 2, max_dim: int = 24):
        device = self.decoder.residual_scale.device
        cond, coarse_mel, mel_lens = self._encode(self._example_tokens(max_batch, max_dim, device))
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(coarse_mel.shape[0], coarse_mel.shape[1], coarse_mel.shape[2] + 7, generator=generator)
        return cond, coarse_mel, mel_lens.long(), noise.to(coarse_mel.device)

    def forward(self, cond, coarse_mel, mel_lens, noise):
        options = SamplingOptions(steps=self.steps, sampler=self.sampler, guidance_scale=self.guidance_scale,
                                  noise=noise, layer_budget=self.layer_budget)
        return self.decoder.decode(cond, coarse_mel, mel_lens, options)


class DenoiserStepGraph(NeuralModule, Exportable):
    """One call of ``denoiser`` (a :class:`~nemo_distill.modules.mel_denoiser.MelDenoiser`) at ``layer_budget``
    residual blocks (None: all): ``z_t``, ``log_snr``, ``cond``, ``prior``, ``mask`` -> ``prediction``."""

    def __init__(self, denoiser: torch.nn.Module, layer_budget: Optional[int] = None):
        super().__init__()
        self.denoiser, self.layer_budget = denoiser, denoiser.check_layer_budget(layer_budget)

    @property
    def input_types(self):
        return self.denoiser.input_types

    @property
    def output_types(self):
        return self.denoiser.output_types

    def input_example(self, max_batch: int = 2, max_dim: int = 37):
        return self.denoiser.input_example(max_batch, max_dim)

    def forward(self, z_t, log_snr, cond, prior, mask):
        return self.denoiser(z_t, log_snr, cond, prior, mask, layer_budget=self.layer_budget)
