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

"""GuidanceFoldingModel: classifier-free guidance folded into the student (Meng et al. 2023, stage one).

At any ``t`` the student's single call learns the teacher's guided prediction ``(1 + w) x0(z, c) - w x0(z, null)``,
which costs the teacher two calls; the step count is unchanged
(:func:`~nemo_distill.diffusion.distillation_losses.guidance_folding_loss`). The student samples without guidance
(``guidance_scale: 0``) and records the folded scale in its lineage.
"""

from typing import Dict, Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig

from nemo_distill.diffusion import guidance_folding_loss
from nemo_distill.models.progressive_distillation import check_weighting
from nemo_distill.models.shard_distillation import DecoderDistillationModel

__all__ = ["GuidanceFoldingModel"]


class GuidanceFoldingModel(DecoderDistillationModel):
    """Config keys: those of :class:`~nemo_distill.models.progressive_distillation.ProgressiveDistillationModel`
    plus ``guidance_scale`` (> 0, the weight folded in)."""

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        check_weighting(cfg)
        if float(cfg.get("guidance_scale", 0.0)) <= 0:
            raise ValueError("guidance folding needs guidance_scale > 0 (the weight to fold into the student)")
        super().__init__(cfg=cfg, trainer=trainer)
        self.teacher_steps = self.student_steps = int(cfg.teacher_steps)

    @classmethod
    def round_config(cls, section, model_cfg: DictConfig, previous_student: Optional[str]) -> Dict:
        """The section's ``scale`` and its own loss ``weighting`` (default the rounds')."""
        return {"guidance_scale": float(section.get("scale", 0.0) or 0.0),
                "weighting": section.get("weighting") or model_cfg.weighting}

    def distillation_loss(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        x0, cond, coarse, mask = self._window(batch)
        guided = self.x0_function(self.teacher_decoder, cond, coarse, mask,
                                  guidance_scale=float(self._cfg.guidance_scale))
        return guidance_folding_loss(self.x0_function(self.decoder, cond, coarse, mask), guided, x0,
                                     self.decoder.settings.schedule, mask=mask, **self.loss_settings())

    def lineage(self) -> Dict:
        return {**super().lineage(), "guidance_scale_folded": float(self._cfg.guidance_scale)}
