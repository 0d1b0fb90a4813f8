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

"""ClassifierGuidedGenerator: a frozen noise-conditioned classifier reused as a class-conditional generator's backbone.

The backbone is a trained :class:`~nemo_distill.models.noisy_classifier.NoisyClassifierModel` (its classifier
network, frozen, kept in this model's checkpoint). A light :class:`~nemo_distill.modules.tap_score_net.TapScoreNet`
reads the backbone's stage outputs ("taps") for ``z_t`` and predicts the noise ``eps`` (or ``v``, see
``diffusion.parameterization``); only it and its own thin encoder of ``z_t`` (``score_net.own_encoder``) are trained, by
denoising score matching (see :class:`~nemo_distill.models.guided_mel_diffusion.GuidedMelDiffusion`).

Sampling runs the backbone once per step: its taps feed the score network (the unconditional score ``-eps / sigma``)
and its logits give the class guidance ``grad_z log p(y | z_t)`` by one backward pass. The two-model baseline
(:class:`~nemo_distill.models.two_model_guided_generator.TwoModelGuidedGenerator`) needs a whole score network
forward on top of the same classifier forward and backward.
"""

from typing import Optional

import torch
from omegaconf import DictConfig, open_dict

from nemo_distill.models.guided_mel_diffusion import GuidedMelDiffusion

__all__ = ["ClassifierGuidedGenerator"]


class ClassifierGuidedGenerator(GuidedMelDiffusion):
    """Config as :class:`GuidedMelDiffusion` with ``backbone_path`` (the classifier ``.nemo``; its network and mel
    settings are copied into ``backbone``) and ``score_net`` a ``TapScoreNet`` (``n_mels``, ``tap_channels`` and
    ``stride`` are taken from the backbone)."""

    classifier_key = "backbone"

    def _score_net_config(self, score_cfg: DictConfig) -> DictConfig:
        with open_dict(score_cfg):
            score_cfg.n_mels = int(self.backbone.n_mels)
            score_cfg.tap_channels = list(self.backbone.channels)
            score_cfg.stride = int(getattr(self.backbone, "stem_stride", 1))
        return score_cfg

    def predict(self, z_t: torch.Tensor, log_snr: torch.Tensor, labels: Optional[torch.Tensor] = None):
        """One backbone forward: its taps feed the score network; with ``labels``, one backward of its logits gives
        the guidance gradient (the score network then runs without autograd)."""
        taps, lse_grad, class_grad = self.classifier_pass(z_t, log_snr, labels,
                                                          logsumexp_grad=self.score_net.use_logsumexp_grad)
        with torch.set_grad_enabled(labels is None and torch.is_grad_enabled()):
            return self.score_net(z_t, log_snr, taps, lse_grad), class_grad
