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

"""ConsistencyDistillationModel: a few-step student by consistency distillation (Song et al. 2023; CoMoSpeech).

On the teacher's ``consistency.grid_steps``-step DDIM grid, the student's prediction at ``z_t`` learns its EMA copy's
(decay ``consistency.ema_decay``) one teacher DDIM step further down, and the teacher's DDIM result at the clean end::

    loss = w(log_snr_t) |x0_student(z_t) - sg x0_ema(ddim_teacher(z_t, t -> s), s)|^2

(:func:`~nemo_distill.diffusion.distillation_losses.consistency_loss`; the EMA follows the student after every
optimizer step, :func:`~nemo_distill.diffusion.distillation_losses.ema_update`). The student samples with
``consistency.steps`` DDIM steps (1 by default). The EMA copy is in the checkpoints, so a resumed round continues it.
"""

import copy
from typing import Dict, Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf

from nemo_distill.diffusion import consistency_loss, ema_update
from nemo_distill.models.progressive_distillation import check_weighting
from nemo_distill.models.shard_distillation import DecoderDistillationModel

__all__ = ["ConsistencyDistillationModel", "check_consistency_config"]


def check_consistency_config(section) -> None:
    """The ``consistency`` section (ValueError naming the bad key)."""
    section = section or {}
    if int(section.get("grid_steps", 0)) < 2:
        raise ValueError(f"consistency.grid_steps must be >= 2 (the teacher's DDIM grid), got "
                         f"{section.get('grid_steps')}")
    if int(section.get("steps", 1)) < 1:
        raise ValueError(f"consistency.steps must be >= 1, got {section.get('steps')}")
    if not 0.0 <= float(section.get("ema_decay", 0.95)) < 1.0:
        raise ValueError(f"consistency.ema_decay must be in [0, 1), got {section.get('ema_decay')}")


class ConsistencyDistillationModel(DecoderDistillationModel):
    """Config keys: those of :class:`~nemo_distill.models.progressive_distillation.ProgressiveDistillationModel`
    plus ``consistency`` (``steps``, ``grid_steps``, ``ema_decay``)."""

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        check_weighting(cfg)
        check_consistency_config(cfg.get("consistency"))
        super().__init__(cfg=cfg, trainer=trainer)
        self.teacher_steps = int(cfg.teacher_steps)
        self.student_steps = int(cfg.consistency.get("steps", 1))
        # the target network: the student's EMA (in checkpoints, for resume)
        self.ema_decoder = copy.deepcopy(self.decoder).requires_grad_(False).eval()

    @classmethod
    def check_section(cls, section, plan_has_ladder: bool = True) -> None:
        check_consistency_config(section)

    def train(self, mode: bool = True):
        super().train(mode)
        self.ema_decoder.eval()
        return self

    def distillation_loss(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        x0, cond, coarse, mask = self._window(batch)
        return consistency_loss(self.x0_function(self.decoder, cond, coarse, mask),
                                self.x0_function(self.teacher_decoder, cond, coarse, mask),
                                self.x0_function(self.ema_decoder, cond, coarse, mask), x0,
                                self.decoder.settings.schedule, int(self._cfg.consistency.grid_steps), mask=mask,
                                **self.loss_settings())

    @torch.no_grad()
    def on_train_batch_end(self, outputs, batch, batch_idx):
        """The target network follows the student: ``ema = decay ema + (1 - decay) student``."""
        ema_update(self.ema_decoder, self.decoder, float(self._cfg.consistency.get("ema_decay", 0.95)))

    def lineage(self) -> Dict:
        settings = OmegaConf.to_container(self._cfg.consistency, resolve=True)
        return {**super().lineage(), **{f"consistency_{k}": v for k, v in settings.items()}}
