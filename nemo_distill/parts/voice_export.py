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

"""The deployment side of a diffusion voice: its ONNX graphs and the :class:`Deployment` description.

:class:`VoiceExport` is a mixin of :class:`~nemo_distill.models.DiffusionSpectrogramGenerator` (as NeMo's
``Exportable`` is of its models): it needs the voice's ``decoder`` (a
:class:`~nemo_distill.modules.mel_decoder.DiffusionMelDecoder`), ``encode``, ``vocab``, ``fastpitch``, ``settings``,
``parse_batch``, ``generate_spectrogram`` and ``_cfg``, and adds :meth:`export_graph`, :meth:`export` and
:meth:`deployment`.
"""

import warnings
from typing import Optional

import torch
from omegaconf import OmegaConf

from nemo_distill.diffusion import SamplingOptions
from nemo_distill.parts.deployment import Deployment
from nemo_distill.parts.export_graphs import (
    DenoiserStepGraph,
    FrontendGraph,
    UnrolledSamplerGraph,
    export_sampler_steps,
)
from nemo_distill.parts.tokenizer_spec import tokenizer_spec

__all__ = ["VoiceExport"]


class VoiceExport:
    """The voice's graphs (``sampler``, ``frontend``, ``step``) through NeMo's ``Exportable``, and its
    :class:`~nemo_distill.parts.deployment.Deployment`."""

    EXPORT_FORMS = ("sampler", "frontend", "step")

    def export_graph(self, form: str = "sampler", steps: Optional[int] = None, guidance_scale: float = 0.0,
                     allow_step_mismatch: bool = False, layer_budget: Optional[int] = None):
        """The ``Exportable`` module of one deployed graph (see :meth:`export`), with the step count and the layer
        budget checked (:func:`~nemo_distill.parts.export_graphs.export_sampler_steps`) before anything is
        written."""
        if form not in self.EXPORT_FORMS:
            raise ValueError(f"unknown export form {form!r}; valid options: {list(self.EXPORT_FORMS)}")
        layer_budget = self.decoder.check_layer_budget(
            layer_budget if layer_budget is not None else self.settings.layer_budget)
        if form == "sampler":
            return UnrolledSamplerGraph(self.decoder, self.encode, self.vocab.pad,
                                        export_sampler_steps(self, steps, allow_step_mismatch), guidance_scale,
                                        layer_budget)
        if form == "frontend":
            return FrontendGraph(self, self.encode, self.vocab.pad)
        return DenoiserStepGraph(self.decoder.denoiser, layer_budget)

    def export(
        self,
        output: str,
        form: str = "sampler",
        steps: Optional[int] = None,
        guidance_scale: float = 0.0,
        allow_step_mismatch: bool = False,
        graph=None,
        layer_budget: Optional[int] = None,
        **export_kwargs,
    ):
        """Export one graph of this voice to ONNX (or TorchScript, by ``output``'s extension) through NeMo's
        ``Exportable`` (neural types give the names, batch and time axes are dynamic).

        ``form``:

        * ``sampler``: the whole ``steps``-step sampler unrolled into one graph around the decoder
          (:class:`~nemo_distill.parts.export_graphs.UnrolledSamplerGraph`): ``cond``, ``coarse_mel``, ``mel_lens``,
          ``noise`` -> ``mel``. ``steps`` defaults to a distilled student's own; another K needs
          ``allow_step_mismatch``. ``guidance_scale`` > 0 unrolls classifier-free guidance (two calls per step).
        * ``frontend``: the FastPitch front-end (:class:`~nemo_distill.parts.export_graphs.FrontendGraph`):
          ``tokens`` -> ``cond``, ``coarse_mel``, ``mel_lens``.
        * ``step``: one denoiser call (``z_t``, ``log_snr``, ``cond``, ``prior``, ``mask`` -> ``prediction``), for
          runtimes that drive the sampling loop themselves.

        ``layer_budget``: residual blocks per denoiser call in the sampler and step graphs (None: the config's
        ``diffusion.layer_budget``, by default all); the graph holds only those blocks.
        ``graph``: a module from :meth:`export_graph` (already checked) instead of ``form``/``steps``. Other keyword
        arguments go to ``Exportable.export``. The model is left in eval mode with its parameters' ``requires_grad``
        as they were (``Exportable`` turns them off).
        """
        if graph is None:
            graph = self.export_graph(form, steps, guidance_scale, allow_step_mismatch, layer_budget)
        requires_grad = {name: p.requires_grad for name, p in self.named_parameters()}
        self.eval()
        try:
            with warnings.catch_warnings():
                if isinstance(graph, UnrolledSamplerGraph):  # the schedule's log-SNRs, the noise check: constants
                    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                return graph.export(output, **export_kwargs)
        finally:
            for name, p in self.named_parameters():
                p.requires_grad_(requires_grad[name])

    def deployment(self, steps: Optional[int] = None, allow_step_mismatch: bool = False,
                   layer_budget: Optional[int] = None, include_step: bool = False) -> Deployment:
        """This voice as a deployment sees it (:class:`~nemo_distill.parts.deployment.Deployment`), every setting
        checked first: the sampler graph's step count (a student's own by default; another needs
        ``allow_step_mismatch``) and layer budget (the config's by default), and the tokenizer (a character
        tokenizer the torch-free client can re-apply)."""
        sampler_graph = self.export_graph("sampler", steps, allow_step_mismatch=allow_step_mismatch,
                                          layer_budget=layer_budget)
        steps, layer_budget = sampler_graph.steps, sampler_graph.layer_budget
        graphs = {"frontend": lambda path: self.export(path, form="frontend"),
                  "sampler": lambda path: self.export(path, graph=sampler_graph)}
        if include_step:
            graphs["step"] = lambda path: self.export(path, form="step", layer_budget=layer_budget)

        def calibration_mels(texts):
            tokens, _ = self.parse_batch(list(texts))
            options = SamplingOptions(steps=steps, seed=0, layer_budget=layer_budget)
            mels, lengths = self.generate_spectrogram(tokens, options=options, return_lengths=True)
            return [mel[:, :n].cpu().numpy() for mel, n in zip(mels, lengths.tolist())]

        distillation = self._cfg.get("distillation") or {}
        return Deployment(
            graphs=graphs, steps=int(steps), sampler=self.settings.sampler,
            layer_budget=layer_budget if layer_budget is not None else self.decoder.num_blocks,
            n_mels=int(self._cfg.n_mel_channels), cond_channels=self.decoder.cond_channels,
            sample_rate=int(self._cfg.sample_rate), hop_length=int(self._cfg.preprocessor.n_window_stride),
            max_frames_per_token=int(self.fastpitch.max_token_duration), tokenizer=tokenizer_spec(self.vocab),
            has_text_normalizer=self.text_normalizer_call is not None,
            preprocessor=OmegaConf.to_container(self._cfg.preprocessor, resolve=True),
            lineage={"class": type(self).__name__, "distilled": bool(distillation),
                     **(OmegaConf.to_container(distillation, resolve=True) if OmegaConf.is_config(distillation)
                        else dict(distillation))},
            calibration_mels=calibration_mels)
