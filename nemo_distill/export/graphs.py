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
* The single denoiser step is the ``MelDenoiser`` itself (already ``Exportable``), for runtimes that drive the loop.

Each graph calls the model's own methods (``encode``, ``decode_spectrogram``), so the exported computation is the
one PyTorch runs, not a copy of it.
"""

from typing import Optional

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

__all__ = ["FrontendGraph", "UnrolledSamplerGraph", "export_sampler_steps", "STOCHASTIC_SAMPLERS"]

STOCHASTIC_SAMPLERS = ("ddpm",)  # draw fresh noise at every step: cannot be a fixed graph of the starting noise


def export_sampler_steps(model, steps: Optional[int] = None, allow_step_mismatch: bool = False) -> int:
    """The K an unrolled sampler is exported with, after checking it makes sense for ``model``.

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


class _ModelGraph(NeuralModule, Exportable):
    """Common part: holds the model, exports dynamic batch/time axes for inputs *and* outputs, and tears down the
    export state NeMo's ``Exportable`` sets on every exportable submodule (FastPitchModel sets its export types)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def dynamic_shapes_for_export(self, use_dynamo=False):
        axes = dict(get_dynamic_axes(self.input_types, self.input_names, use_dynamo))
        axes.update(get_dynamic_axes(self.output_types, self.output_names, use_dynamo))
        return axes

    def _example_tokens(self, max_batch: int, max_dim: int) -> torch.Tensor:
        """``[max_batch, max_dim]`` random character ids, every row but the first padded to half length."""
        device = next(self.model.parameters()).device
        pad = self.model.vocab.pad
        generator = torch.Generator().manual_seed(0)
        tokens = torch.randint(1, pad, (max_batch, max_dim), generator=generator)
        tokens[1:, max(1, max_dim // 2):] = pad
        return tokens.to(device)

    def _export_teardown(self):
        for module in self.modules():
            if module is not self and isinstance(module, Exportable):
                module._export_teardown()


class FrontendGraph(_ModelGraph):
    """FastPitch front-end: ``tokens [B, L]`` (padded with the tokenizer's pad id) -> ``cond [B, D, T]``,
    ``coarse_mel [B, n_mels, T]``, ``mel_lens [B]``."""

    @property
    def input_types(self):
        return {"tokens": NeuralType(("B", "T"), TokenIndex())}

    @property
    def output_types(self):
        return {
            "cond": NeuralType(("B", "D", "T"), EncodedRepresentation()),
            "coarse_mel": NeuralType(("B", "D", "T"), MelSpectrogramType()),
            "mel_lens": NeuralType(("B",), LengthsType()),
        }

    def input_example(self, max_batch: int = 2, max_dim: int = 24):
        return (self._example_tokens(max_batch, max_dim),)

    def forward(self, tokens):
        cond, coarse_mel, mel_lens = self.model.encode(tokens)
        return cond, coarse_mel, mel_lens.long()


class UnrolledSamplerGraph(_ModelGraph):
    """K deterministic sampler steps in one graph: ``cond [B, D, T]``, ``coarse_mel [B, n_mels, T]``,
    ``mel_lens [B]``, ``noise [B, n_mels, T_noise >= T]`` -> ``mel [B, n_mels, T]`` (frames past each length at
    the log-mel floor), exactly :meth:`~DiffusionSpectrogramGenerator.decode_spectrogram` with ``noise`` given."""

    def __init__(self, model, steps: int, guidance_scale: float = 0.0):
        super().__init__(model)
        sampler = model.settings.sampler
        if sampler in STOCHASTIC_SAMPLERS:
            raise ValueError(f"the model's sampler {sampler!r} draws new noise at every step; only deterministic "
                             "samplers (ddim, dpmpp_2m) can be exported as a fixed graph of the starting noise")
        self.steps, self.sampler, self.guidance_scale = int(steps), sampler, float(guidance_scale)

    @property
    def input_types(self):
        return {
            "cond": NeuralType(("B", "D", "T"), EncodedRepresentation()),
            "coarse_mel": NeuralType(("B", "D", "T"), MelSpectrogramType()),
            "mel_lens": NeuralType(("B",), LengthsType()),
            "noise": NeuralType(("B", "D", "T"), VoidType()),
        }

    @property
    def output_types(self):
        return {"mel": NeuralType(("B", "D", "T"), MelSpectrogramType())}

    def input_example(self, max_batch: int = 2, max_dim: int = 24):
        cond, coarse_mel, mel_lens = self.model.encode(self._example_tokens(max_batch, max_dim))
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn(coarse_mel.shape[0], coarse_mel.shape[1], coarse_mel.shape[2] + 7, generator=generator)
        return cond, coarse_mel, mel_lens.long(), noise.to(coarse_mel.device)

    def forward(self, cond, coarse_mel, mel_lens, noise):
        return self.model.decode_spectrogram(cond, coarse_mel, mel_lens, steps=self.steps, sampler=self.sampler,
                                             guidance_scale=self.guidance_scale, noise=noise)
