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

"""ProgressiveDistillationModel: one round of progressive distillation (Salimans & Ho 2022) of a diffusion voice.

The teacher is a :class:`DiffusionSpectrogramGenerator` ``.nemo`` sampled with ``teacher_steps`` DDIM steps; the
student starts as a copy of it and learns to make one DDIM step where the teacher makes two, so it samples with
``teacher_steps / 2``. Training data are the teacher's synthetic shards (:mod:`nemo_distill.data.synthetic_shards`):
conditioning and the teacher's own full-step samples, no recordings. For a training example ``x0`` (a teacher sample,
in diffusion space), a student step ``t -> s`` of the ``K``-step grid and fresh noise::

    z_t      = alpha_t x0 + sigma_t tau eps                              (tau: the model's sampling temperature)
    z_s      = two teacher DDIM steps t -> t' -> s from z_t          (t' midway)
    x_target = (z_s - (sigma_s / sigma_t) z_t) / (alpha_s - (sigma_s / sigma_t) alpha_t)
    loss     = w(log_snr_t) |x0_student(z_t) - x_target|^2           (w: the ``weighting`` option)

(:func:`~nemo_distill.diffusion.distillation_losses.progressive_loss`, which the 2-D toy trains with too.)

Training needs the two decoders only (the shards hold FastPitch's conditioning): ``teacher_decoder`` (frozen) and
``decoder`` (the student's, a copy of the teacher's to start with), both
:class:`~nemo_distill.modules.mel_decoder.DiffusionMelDecoder` used through their public API. Checkpoints hold the
student's decoder; the teacher's weights come from ``teacher_path`` and are left out of them. :meth:`save_student`
writes the student as a ``DiffusionSpectrogramGenerator`` ``.nemo`` (the teacher's front-end and the trained decoder)
whose ``default_steps`` is the student's and whose ``distillation`` config section records its lineage.

The other methods that train the student's decoder with one loss live beside it:
:class:`~nemo_distill.models.guidance_folding.GuidanceFoldingModel`,
:class:`~nemo_distill.models.layer_distillation.LayerDistillationModel`,
:class:`~nemo_distill.models.consistency_distillation.ConsistencyDistillationModel`.
"""

from typing import Dict, Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig

from nemo_distill.diffusion import WEIGHTINGS, check_halvable, progressive_loss
from nemo_distill.models.shard_distillation import DecoderDistillationModel

__all__ = ["ProgressiveDistillationModel", "check_weighting"]


def check_weighting(cfg: DictConfig) -> None:
    """The round's loss ``weighting`` (ValueError naming the valid ones)."""
    if cfg.weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {cfg.weighting!r}; valid options: {sorted(WEIGHTINGS)}")


class ProgressiveDistillationModel(DecoderDistillationModel):
    """One round ``teacher_steps -> teacher_steps / 2``. Config keys: ``teacher_path``, ``teacher_steps``,
    ``weighting``, ``weighting_gamma``, ``synthetic_data`` (a complete shard store), ``val_utterances`` (held out from
    training), ``max_frames``, ``train_ds``/``validation_ds`` (``batch_size``), ``optim``."""

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        check_weighting(cfg)
        teacher_steps = int(cfg.teacher_steps)
        if teacher_steps < 2:
            raise ValueError(f"a {teacher_steps}-step teacher cannot be halved: teacher_steps must be >= 2")
        check_halvable(teacher_steps, teacher_steps // 2)
        super().__init__(cfg=cfg, trainer=trainer)
        self.teacher_steps = teacher_steps
        self.student_steps = teacher_steps // 2

    def distillation_loss(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        x0, cond, coarse, mask = self._window(batch)
        return progressive_loss(self.x0_function(self.decoder, cond, coarse, mask),
                                self.x0_function(self.teacher_decoder, cond, coarse, mask), x0,
                                self.decoder.settings.schedule, self.student_steps, mask=mask, **self.loss_settings())
