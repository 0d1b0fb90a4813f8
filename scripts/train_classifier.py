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

"""Train the noise-conditioned digit classifier (the classifier-guided generator's backbone).

    python scripts/build_corpus.py digits --out-dir data/digits
    python scripts/train_classifier.py train_dataset=data/digits/train_manifest.json \
        validation_datasets=data/digits/val_manifest.json exp_manager.exp_dir=outputs/classifier

Checkpoints, resume (``exp_manager.resume_if_exists=true``) and TensorBoard logs (loss, accuracy per noise level)
come from NeMo's ``exp_manager``. At the end the accuracy per noise level on the validation set (or on
``+test_dataset=...``) is printed and written to ``<log_dir>/accuracy_per_level.json``, and the model is saved as
``<log_dir>/<name>.nemo``.
"""

import json
import os

import lightning.pytorch as pl
from omegaconf import open_dict

from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager
from nemo_distill.models import NoisyClassifierModel
from nemo_distill.utils.files import write_json_atomic

LEVELS = (0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)


@hydra_runner(config_path="../conf", config_name="noisy_classifier")
def main(cfg):
    trainer = pl.Trainer(**cfg.trainer)
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    model = NoisyClassifierModel(cfg=cfg.model, trainer=trainer)
    trainer.fit(model)
    path = os.path.join(str(log_dir), f"{cfg.name}.nemo")
    model.save_to(path)
    logging.info(f"saved {path}")

    evaluation = cfg.model.validation_ds.copy()
    with open_dict(evaluation):
        evaluation.manifest_filepath = cfg.get("test_dataset", None) or cfg.validation_datasets
    model.setup_test_data(evaluation)
    accuracy = model.eval().accuracy_per_level(model._test_dl, LEVELS)
    report = {"manifest": evaluation.manifest_filepath, "accuracy": {f"{t:.2f}": a for t, a in accuracy.items()}}
    write_json_atomic(os.path.join(str(log_dir), "accuracy_per_level.json"), report)
    print(f"accuracy per diffusion time on {evaluation.manifest_filepath} (t=0 clean, t=1 pure noise):")
    for t, a in accuracy.items():
        print(f"  t={t:.2f}  {a:.3f}")


if __name__ == "__main__":
    main()  # noqa pylint: disable=no-value-for-parameter
