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

"""Train a DiffusionSpectrogramGenerator (NeMo FastPitch front-end + diffusion mel decoder).

    python scripts/train_diffusion_tts.py --config-name diffusion_tts_tiny \
        train_dataset=corpus/train_manifest.json validation_datasets=corpus/val_manifest.json \
        sup_data_path=corpus/sup_data +precompute_sup_data=true exp_manager.exp_dir=outputs/tts

With ``+precompute_sup_data=true`` the pitch/alignment caches are filled first (with a progress bar) and
``pitch_mean``/``pitch_std`` are taken from the training set when not given. Checkpoints, resume
(``exp_manager.resume_if_exists=true``) and TensorBoard logs come from NeMo's ``exp_manager``; the final model is
saved as ``<log_dir>/<name>.nemo``.

``+init_from_nemo_model=FASTPITCH.nemo`` initialises the front-end from a trained FastPitch through NeMo's
init-from-pretrained mechanism (``ModelPT.maybe_init_from_pretrained_checkpoint``; the class, mel settings and
weights are checked first); with ``model.frontend.freeze=true`` only the diffusion decoder then trains. The older
``model.frontend.init_from=...`` is read as the same, with a deprecation warning.

``+baseline=fastpitch`` trains NeMo's plain ``FastPitchModel`` from the same config (the ``diffusion`` and
``frontend`` sections dropped): the regression-decoder baseline of ``scripts/benchmark.py --fastpitch``.

A non-finite loss stops training without applying that step; the checkpoint of the last good weights is kept, no
``.nemo`` is written and the script exits non-zero.
"""

import os
import sys
import warnings

import lightning.pytorch as pl
from omegaconf import OmegaConf, open_dict

from nemo.core.config import hydra_runner
from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager
from nemo_distill.data.sup_data import precompute_supplementary_data
from nemo_distill.parts.ema import final_weights, use_resumable_ema
from nemo.collections.tts.models import FastPitchModel
from nemo_distill.models import DiffusionSpectrogramGenerator

DATASET_KEYS = ("sample_rate", "n_fft", "win_length", "hop_length", "window", "n_mels", "lowfreq", "highfreq",
                "pitch_fmin", "pitch_fmax")


def _fill_pitch_statistics(cfg):
    dataset_cfg = cfg.model.train_ds.dataset
    kwargs = {key: dataset_cfg[key] for key in DATASET_KEYS}
    stats = None
    for manifest in (cfg.train_dataset, cfg.validation_datasets):
        result = precompute_supplementary_data(manifest, cfg.sup_data_path, kwargs, num_workers=2,
                                               stats_file=os.path.join(cfg.sup_data_path, "pitch_stats_" +
                                                                       os.path.basename(manifest) + ".json"))
        stats = stats or result  # statistics of the training set
    if OmegaConf.is_missing(cfg, "pitch_mean") or OmegaConf.is_missing(cfg, "pitch_std"):
        with open_dict(cfg):
            cfg.pitch_mean, cfg.pitch_std = stats["pitch_mean"], stats["pitch_std"]
        logging.info(f"pitch_mean={cfg.pitch_mean:.1f} Hz, pitch_std={cfg.pitch_std:.1f} Hz from {cfg.train_dataset}")


@hydra_runner(config_path="../conf", config_name="diffusion_tts")
def main(cfg):
    if cfg.get("precompute_sup_data", False):
        _fill_pitch_statistics(cfg)
    baseline = cfg.get("baseline", None)
    if baseline not in (None, "fastpitch"):
        raise ValueError(f"unknown baseline {baseline!r}; valid options: fastpitch")
    if baseline == "fastpitch" and cfg.get("exp_manager", None) is not None:
        with open_dict(cfg):  # plain FastPitch logs no diffusion loss: keep the best checkpoint by its val_loss
            cfg.exp_manager.setdefault("checkpoint_callback_params", {})["monitor"] = "val_loss"
    legacy_init = (cfg.model.get("frontend", {}) or {}).get("init_from")
    if legacy_init:
        warnings.warn("model.frontend.init_from is deprecated: use +init_from_nemo_model=<FastPitch .nemo>",
                      DeprecationWarning)
        with open_dict(cfg):
            cfg.init_from_nemo_model = legacy_init
            cfg.model.frontend.init_from = None
    trainer = pl.Trainer(**cfg.trainer)
    log_dir = exp_manager(trainer, cfg.get("exp_manager", None))
    use_resumable_ema(trainer)  # exp_manager.ema.enable: NeMo's EMA, able to resume
    if baseline == "fastpitch":
        model_cfg = cfg.model.copy()
        with open_dict(model_cfg):
            model_cfg.pop("diffusion", None)
            model_cfg.pop("frontend", None)
        model = FastPitchModel(cfg=model_cfg, trainer=trainer)
    else:
        model = DiffusionSpectrogramGenerator(cfg=cfg.model, trainer=trainer)
        model.maybe_init_from_pretrained_checkpoint(cfg)
    trainer.callbacks.append(pl.callbacks.LearningRateMonitor())
    trainer.fit(model)
    if getattr(model, "nonfinite_loss_step", None) is not None:
        sys.exit(f"training stopped at step {model.nonfinite_loss_step} on a non-finite loss; the last good "
                 f"checkpoint is in {os.path.join(str(log_dir), 'checkpoints')}; no .nemo written")
    path = os.path.join(str(log_dir), f"{cfg.name}.nemo")
    with final_weights(trainer) as averaged:  # exp_manager.ema.enable: the moving average validation scored
        model.save_to(path)
    logging.info(f"saved {path}" + (" (EMA weights)" if averaged else ""))


if __name__ == "__main__":
    main()
