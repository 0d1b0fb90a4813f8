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

"""Train a class-guided digit generator's score network: the single-backbone ClassifierGuidedGenerator (default
config ``classifier_guided``) or the two-model baseline (``--config-name two_model_guided``, a U-Net guided by a
separate classifier; ``classifier_path=...`` instead of ``backbone_path``).

    python scripts/train_classifier.py train_dataset=data/digits/train_manifest.json \
        validation_datasets=data/digits/val_manifest.json exp_manager.exp_dir=outputs/classifier
    python scripts/train_guided.py backbone_path=outputs/classifier/NoisyClassifier/<run>/NoisyClassifier.nemo \
        train_dataset=data/digits/train_manifest.json validation_datasets=data/digits/val_manifest.json \
        exp_manager.exp_dir=outputs/guided

Only the score network trains (denoising score matching); the classifier is copied, frozen, into the model. At the
end the model is saved as ``<log_dir>/<name>.nemo`` and one guided sample per class is written to
``<log_dir>/samples/`` as a mel PNG and a Griffin-Lim wav (``+sample_steps``, ``+guidance_scale`` set them).
"""

import os

import lightning.pytorch as pl

from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager
from nemo_distill.models import ClassifierGuidedGenerator, TwoModelGuidedGenerator
from nemo_distill.models.guided_mel_diffusion import GuidedMelDiffusion

MODEL_CLASSES = {cls.__name__: cls for cls in (ClassifierGuidedGenerator, TwoModelGuidedGenerator)}


def write_samples(model: GuidedMelDiffusion, folder: str, steps: int, guidance_scale: float) -> None:
    """One guided sample per class: ``<label>.png`` (mel) and ``<label>.wav`` (Griffin-Lim)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf

    from nemo_distill.parts.griffin_lim import griffin_lim

    os.makedirs(folder, exist_ok=True)
    mels = model.generate(model.labels, steps=steps, guidance_scale=guidance_scale, seed=0).cpu().numpy()
    for label, mel in zip(model.labels, mels):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.imshow(mel, origin="lower", aspect="auto")
        ax.set_title(f"{label} (guidance {guidance_scale:g}, {steps} steps)")
        fig.savefig(os.path.join(folder, f"{label}.png"), dpi=80)
        plt.close(fig)
        audio = griffin_lim(mel, model.mel_section.preprocessor)
        sf.write(os.path.join(folder, f"{label}.wav"), audio, int(model.mel_section.sample_rate))


@hydra_runner(config_path="../conf", config_name="classifier_guided")
def main(cfg):
    trainer = pl.Trainer(**cfg.trainer)
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    model_class = cfg.get("model_class", "ClassifierGuidedGenerator")
    if model_class not in MODEL_CLASSES:
        raise ValueError(f"model_class {model_class!r} is not one of {sorted(MODEL_CLASSES)}")
    model = MODEL_CLASSES[model_class](cfg=cfg.model, trainer=trainer)
    trainer.fit(model)
    path = os.path.join(str(log_dir), f"{cfg.name}.nemo")
    model.save_to(path)
    logging.info(f"saved {path}")
    write_samples(model.eval(), os.path.join(str(log_dir), "samples"), int(cfg.get("sample_steps", 50)),
                  float(cfg.get("guidance_scale", 16.0)))


if __name__ == "__main__":
    main()  # noqa pylint: disable=no-value-for-parameter
