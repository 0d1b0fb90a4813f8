"""NeMo models of this package (importing this module imports NeMo)."""

import nemo_distill  # noqa: F401  (registers the package with NeMo's target allow-list)
from nemo_distill.models.classifier_guided_generator import ClassifierGuidedGenerator
from nemo_distill.models.diffusion_spectrogram_generator import DiffusionSpectrogramGenerator
from nemo_distill.models.noisy_classifier import NoisyClassifierModel
from nemo_distill.models.toy_diffusion import ToyDiffusionModel
from nemo_distill.models.two_model_guided_generator import TwoModelGuidedGenerator

__all__ = ["ClassifierGuidedGenerator", "DiffusionSpectrogramGenerator", "NoisyClassifierModel", "ToyDiffusionModel",
           "TwoModelGuidedGenerator"]
