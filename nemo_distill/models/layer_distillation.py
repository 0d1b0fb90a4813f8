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

"""LayerDistillationModel: a student that runs fewer residual blocks per call (self-distillation, after Presto!-L).

The student keeps the step count and learns to run only ``layers.budgets`` of its denoiser's residual blocks per call
(see :class:`~nemo_distill.modules.mel_denoiser.MelDenoiser`). Each step draws one budget ``n`` from ``budgets`` plus
the full depth ``N`` (which keeps the full-depth model where it was) and matches the frozen full-depth model's
prediction at the states of the K-step sampler::

    loss = w(log_snr_t) |x0_student(z_t; n blocks) - x0_full(z_t)|^2 + denoising_weight w |x0_student - x0|^2

(:func:`~nemo_distill.diffusion.distillation_losses.layer_distillation_loss`). ``layers.rescale`` sets the per-budget
skip-stream scales first: ``none``, ``sqrt`` (``1 / sqrt(n)``) or ``calibrated`` (measured on the first training
utterances so every budget's output layer sees the full model's RMS). The student samples with
``layers.default_budget`` blocks (default the smallest trained budget).
"""

from typing import Dict, Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig

from nemo.utils import logging
from nemo_distill.data.synthetic_shards import collate
from nemo_distill.diffusion import layer_distillation_loss, noise_data, student_step_log_snrs
from nemo_distill.models.diffusion_spectrogram_generator import DiffusionSpectrogramGenerator
from nemo_distill.models.progressive_distillation import check_weighting
from nemo_distill.models.shard_distillation import DecoderDistillationModel
from nemo_distill.modules.mel_denoiser import initial_skip_scales

__all__ = ["LAYER_RESCALES", "LayerDistillationModel", "check_layers_config"]

LAYER_RESCALES = ("none", "sqrt", "calibrated")


def check_layers_config(section, decoder=None) -> list:
    """The ``layers`` section (against ``decoder``'s network when given): the budgets to train, sorted."""
    section = section or {}
    budgets = list(section.get("budgets") or [])
    if not budgets:
        raise ValueError("layer distillation needs layers.budgets: the numbers of residual blocks to train, e.g. "
                         "[4, 6]")
    rescale = section.get("rescale", "calibrated")
    if rescale not in LAYER_RESCALES:
        raise ValueError(f"unknown layers.rescale {rescale!r}; valid options: {list(LAYER_RESCALES)}")
    if decoder is not None:
        if decoder.num_blocks is None:
            raise ValueError(f"{type(decoder.denoiser).__name__} has no layer budgets: layer distillation needs a "
                             "MelDenoiser")
        for budget in budgets + [section.get("default_budget")]:  # a null default_budget passes
            decoder.check_layer_budget(budget)
    return sorted(set(int(b) for b in budgets))


class LayerDistillationModel(DecoderDistillationModel):
    """Config keys: those of :class:`~nemo_distill.models.progressive_distillation.ProgressiveDistillationModel`
    plus ``layers`` (``budgets``, ``default_budget``, ``rescale``, ``calibration_utterances``,
    ``denoising_weight``)."""

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        check_weighting(cfg)
        check_layers_config(cfg.get("layers"))
        # the teacher is checked before the data are loaded: a wrong file fails fast
        teacher = DiffusionSpectrogramGenerator.from_nemo(cfg.teacher_path)
        self.layer_budgets = check_layers_config(cfg.layers, teacher.decoder)
        super().__init__(cfg=cfg, trainer=trainer, teacher=teacher)
        del teacher  # the front-end is not needed to train: the shards hold its outputs
        self.teacher_steps = self.student_steps = int(cfg.teacher_steps)
        if self._train_dl is not None:
            self._set_skip_scales(str(cfg.layers.get("rescale", "calibrated")))

    @classmethod
    def check_section(cls, section, plan_has_ladder: bool = True) -> None:
        check_layers_config(section)

    @classmethod
    def check_against_teacher(cls, section, teacher_decoder) -> None:
        check_layers_config(section, teacher_decoder)

    @property
    def sampling_layer_budget(self) -> Optional[int]:
        return self.default_layer_budget

    @property
    def default_layer_budget(self) -> int:
        """The student samples with this budget by default (``layers.default_budget``, else the smallest trained
        one)."""
        return int(self._cfg.layers.get("default_budget") or min(self.layer_budgets))

    @torch.no_grad()
    def _set_skip_scales(self, rescale: str) -> None:
        """``layers.rescale`` before training: the student's (and, for the untrained-dropping reference in
        validation, the frozen model's) per-budget skip scales; ``calibrated`` measures them on the first training
        utterances at the K-step grid's noise levels, with fixed noise (the same on every rank and every resume)."""
        denoiser = self.decoder.denoiser
        if rescale == "calibrated":
            utterances = self._synthetic_utterances()
            first = int(self._cfg.get("val_utterances", 0))
            count = min(int(self._cfg.layers.get("calibration_utterances", 16)), len(utterances) - first)
            batch = collate([utterances[i] for i in range(first, first + count)])
            generator = torch.Generator().manual_seed(0)
            x0, cond, coarse, mask = self._window(batch, generator=generator)
            step = torch.arange(x0.shape[0]) % self.student_steps
            log_snr, _, _ = student_step_log_snrs(self.decoder.settings.schedule, self.student_steps, step,
                                                  dtype=x0.dtype, t_start=self.decoder.settings.t_start)
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
            z_t = noise_data(x0, log_snr, self.decoder.settings.temperature * noise) * mask
            prior = self.decoder.prior_input(coarse) * mask
            scales = denoiser.calibrate_skip_scales(z_t, log_snr, cond, prior, mask)
        else:
            scales = initial_skip_scales(denoiser.num_blocks, rescale)
        denoiser.skip_scales.copy_(scales)
        self.teacher_decoder.denoiser.skip_scales.copy_(scales)
        logging.info(f"layer distillation: skip scales ({rescale}) " + ", ".join(f"{v:.3f}" for v in scales.tolist()))

    def distillation_loss(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        x0, cond, coarse, mask = self._window(batch)
        teacher = self.teacher_decoder
        loss, _ = layer_distillation_loss(
            lambda z_t, log_snr, budget: self.decoder.x0_prediction(z_t, log_snr, cond, coarse, mask,
                                                                    layer_budget=budget),
            self.x0_function(teacher, cond, coarse, mask, layer_budget=teacher.num_blocks), x0,
            self.decoder.settings.schedule, self.student_steps, self.layer_budgets, self.decoder.num_blocks,
            denoising_weight=float(self._cfg.layers.get("denoising_weight", 0.0)), mask=mask,
            **self.loss_settings())
        return loss

    def lineage(self) -> Dict:
        layers = self._cfg.layers
        return {**super().lineage(), "layer_budgets": list(self.layer_budgets),
                "layer_budget": self.default_layer_budget, "num_blocks": int(self.decoder.num_blocks),
                "layer_rescale": str(layers.get("rescale", "calibrated")),
                "layer_denoising_weight": float(layers.get("denoising_weight", 0.0))}

    def student_diffusion_settings(self) -> Dict:
        return {"layer_budget": self.default_layer_budget}
