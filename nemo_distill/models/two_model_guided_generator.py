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

"""TwoModelGuidedGenerator: the usual classifier guidance, a separate score network plus a separate classifier.

The baseline the single-backbone :class:`~nemo_distill.models.classifier_guided_generator.ClassifierGuidedGenerator`
is measured against (``scripts/benchmark_guided.py``): a noise-conditioned U-Net
(:class:`~nemo_distill.modules.unet_score_net.UNetScoreNet`) trained from scratch by denoising score matching,
guided at sampling time by a frozen noise-conditioned classifier (the same kind of ``NoisyClassifierModel`` ``.nemo``,
config ``classifier_path``). Every guided step runs the U-Net forward and the classifier forward and backward.
"""

from typing import Optional

import torch
from omegaconf import DictConfig, open_dict

from nemo_distill.models.guided_mel_diffusion import GuidedMelDiffusion

__all__ = ["TwoModelGuidedGenerator"]


class TwoModelGuidedGenerator(GuidedMelDiffusion):
    """Config as :class:`GuidedMelDiffusion` with ``classifier_path`` (copied into ``classifier``) and ``score_net``
    a ``UNetScoreNet`` (``n_mels`` is taken from the classifier)."""

    classifier_key = "classifier"

    def _score_net_config(self, score_cfg: DictConfig) -> DictConfig:
        with open_dict(score_cfg):
            score_cfg.n_mels = int(self.classifier.n_mels)
        return score_cfg

    def predict(self, z_t: torch.Tensor, log_snr: torch.Tensor, labels: Optional[torch.Tensor] = None):
        """The U-Net's prediction; with ``labels``, plus the classifier's gradient (its forward and backward)."""
        if labels is None:
            return self.score_net(z_t, log_snr), None
        with torch.no_grad():
            prediction = self.score_net(z_t, log_snr)
        return prediction, self.classifier_pass(z_t, log_snr, labels)[2]
