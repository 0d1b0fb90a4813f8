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

"""Distillation of a diffusion voice: a teacher .nemo and texts in, one student .nemo per round out.

    python scripts/distill.py teacher=outputs/demo/teacher/DiffusionTTSSmall.nemo \
        texts=outputs/demo/corpus/train_manifest.json out_dir=outputs/distill plan.teacher_steps=256 \
        plan.student_steps=4 model.weighting=snr_trunc

Synthetic data first (the teacher's front-end and full-step samples, cached as checksummed shards; sharded over the
Trainer's DDP ranks, e.g. ``trainer.devices=2 trainer.strategy=ddp trainer.accelerator=cpu``), then the rounds
N -> N/2 -> ... -> K, each with NeMo's ``exp_manager`` (checkpoints, TensorBoard) under ``out_dir/rounds/``, each
ending in ``out_dir/students/<name>_<K>steps.nemo``. Killed at any point, the same command resumes: complete shards
and finished rounds are reused, an interrupted round continues from its last checkpoint. ``guidance.scale=W`` first
folds classifier-free guidance at weight W into the student (one network call per step instead of two); the other
methods (``layers.budgets``, ``dmd.enabled``, ``consistency.enabled``) are listed in
``nemo_distill/distillation/methods.py``. ``--config-name progressive_distillation`` (the former name of
``distillation``) still works, with a deprecation warning.
"""

import sys

from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo_distill.distillation import run_distillation
from nemo_distill.distillation.rounds import NonFiniteLossError
from nemo_distill.utils.config import warn_if_deprecated_config


@hydra_runner(config_path="../conf", config_name="distillation")
def main(cfg):
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        warn_if_deprecated_config(HydraConfig.get().job.config_name)
    try:
        paths = run_distillation(cfg)
    except (ValueError, TypeError, FileNotFoundError, NonFiniteLossError) as error:  # bad input, a corrupt file,
        print(f"distill.py: error: {error}", file=sys.stderr)                       # a busy folder, a NaN round
        sys.exit(2)
    except OSError as error:  # disk full, permissions: one line naming the file
        print(f"distill.py: error: {error.filename2 or error.filename or cfg.out_dir}: {error.strerror or error}",
              file=sys.stderr)
        sys.exit(2)
    for path in paths:
        logging.info(f"student: {path}")


if __name__ == "__main__":
    main()  # noqa pylint: disable=no-value-for-parameter
