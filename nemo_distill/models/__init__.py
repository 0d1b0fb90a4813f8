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

"""NeMo models of this package (importing this module imports NeMo): every ``ModelPT`` of nemo_distill.

| model | config | what it is |
| --- | --- | --- |
| :class:`DiffusionSpectrogramGenerator` | ``conf/diffusion_tts.yaml`` | FastPitch + a diffusion mel decoder |
| :class:`ProgressiveDistillationModel` | ``conf/distillation.yaml`` (its rounds) | one round of step halving |
| :class:`GuidanceFoldingModel` | ``conf/distillation.yaml`` (``guidance``) | guidance folded into the student |
| :class:`LayerDistillationModel` | ``conf/distillation.yaml`` (``layers``) | fewer residual blocks per call |
| :class:`ConsistencyDistillationModel` | ``conf/distillation.yaml`` (``consistency``) | consistency distillation |
| :class:`DistributionMatchingDistillation` | ``conf/dmd.yaml`` | a k-step generator by distribution matching |

The distillation methods are registered in :mod:`nemo_distill.distillation.methods`.
| :class:`NoisyClassifierModel` | ``conf/noisy_classifier.yaml`` | noise-conditioned log-mel classifier |
| :class:`ClassifierGuidedGenerator` | ``conf/classifier_guided.yaml`` | its frozen backbone as a generator |
| :class:`TwoModelGuidedGenerator` | ``conf/two_model_guided.yaml`` | the U-Net + classifier baseline |
| :class:`ToyDiffusionModel` | ``conf/toy_diffusion.yaml`` | 2-D toy diffusion (tests the wiring) |
"""

from nemo_distill.models.classifier_guided_generator import ClassifierGuidedGenerator
from nemo_distill.models.consistency_distillation import ConsistencyDistillationModel
from nemo_distill.models.diffusion_spectrogram_generator import DiffusionSpectrogramGenerator
from nemo_distill.models.distribution_matching_distillation import DistributionMatchingDistillation
from nemo_distill.models.guidance_folding import GuidanceFoldingModel
from nemo_distill.models.layer_distillation import LayerDistillationModel
from nemo_distill.models.noisy_classifier import NoisyClassifierModel
from nemo_distill.models.progressive_distillation import ProgressiveDistillationModel
from nemo_distill.models.toy_diffusion import ToyDiffusionModel
from nemo_distill.models.two_model_guided_generator import TwoModelGuidedGenerator

__all__ = ["ClassifierGuidedGenerator", "ConsistencyDistillationModel", "DiffusionSpectrogramGenerator",
           "DistributionMatchingDistillation", "GuidanceFoldingModel", "LayerDistillationModel",
           "NoisyClassifierModel", "ProgressiveDistillationModel", "ToyDiffusionModel", "TwoModelGuidedGenerator"]
