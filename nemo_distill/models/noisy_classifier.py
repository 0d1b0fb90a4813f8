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

"""NoisyClassifierModel: a noise-conditioned log-mel classifier trained on noised inputs at every noise level.

The backbone of the classifier-guided generator (:mod:`nemo_distill.models.classifier_guided_generator`). Audio
goes through NeMo's ``AudioToMelSpectrogramPreprocessor`` and NeMo's ``AudioToClassificationLabelDataset`` (manifests with a
``label`` field, e.g. ``scripts/build_corpus.py digits``); the log-mel is cropped to ``frames`` frames and
normalised, ``x0 = (log_mel - mel_mean) / mel_scale`` ``[B, n_mels, frames]``: the space the generator diffuses
in. Each training example is noised to a time drawn uniformly from ``[0, train_max_time]`` (default 1: every
level), ``z_t = alpha x0 + sigma eps``, and the classifier learns ``p(label | z_t, log_snr)`` by cross-entropy;
``train_max_time: 0`` trains a clean-clip classifier (the benchmark's independent judge, ``conf/digit_judge.yaml``).
Validation reports the accuracy at each of ``eval_times`` (``val_acc_t0.50`` ...) and their mean (``val_acc``).
"""

from typing import Dict, List, Optional, Sequence

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig

from nemo.core.classes import ModelPT
from nemo.core.classes.common import safe_instantiate
from nemo_distill.diffusion import noise_data
from nemo_distill.diffusion.settings import schedule_from_config
from nemo_distill.data.labelled_audio import label_loader
from nemo_distill.modules.log_mel_space import LogMelSpace
from nemo_distill.parts.nemo_integrity import RecordsIntegrity

__all__ = ["NoisyClassifierModel"]


class NoisyClassifierModel(RecordsIntegrity, ModelPT):
    """Config: ``labels``, ``sample_rate``, ``frames``, ``mel_mean``, ``mel_scale``, ``preprocessor`` (NeMo's
    ``AudioToMelSpectrogramPreprocessor``), ``classifier`` (``_target_`` of a module ``(z_t, log_snr) -> logits``,
    e.g. :class:`~nemo_distill.modules.noisy_classifier.NoisyMelClassifier`), ``schedule``, ``train_max_time``,
    ``eval_times``, ``train_ds``/``validation_ds`` (``manifest_filepath``, ``batch_size``, ``shuffle``,
    ``num_workers``), ``optim``."""

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        super().__init__(cfg=cfg, trainer=trainer)  # sets up the data loaders (they read labels from the config)
        self.mel = LogMelSpace(self._cfg.preprocessor, self._cfg.frames, self._cfg.mel_mean, self._cfg.mel_scale)
        self.classifier = safe_instantiate(self._cfg.classifier)
        self.schedule = schedule_from_config(self._cfg.schedule)
        self.train_max_time = float(self._cfg.get("train_max_time", 1.0))
        if not 0.0 <= self.train_max_time <= 1.0:
            raise ValueError(f"train_max_time must lie in [0, 1], got {self.train_max_time}")
        if self.classifier.num_classes != len(self.labels):
            raise ValueError(f"classifier.num_classes ({self.classifier.num_classes}) must equal the number of labels "
                             f"({len(self.labels)})")
        self._val_correct: Dict[float, List[torch.Tensor]] = {}

    @property
    def labels(self) -> List[str]:
        return list(self._cfg.labels)

    # ------------------------------------------------------------------------------------------------- features
    @property
    def mel_settings(self) -> Dict[str, float]:
        """What a generator built on this classifier must share with it."""
        return {"sample_rate": int(self._cfg.sample_rate), "n_mels": int(self.classifier.n_mels),
                "frames": int(self._cfg.frames), "mel_mean": float(self._cfg.mel_mean),
                "mel_scale": float(self._cfg.mel_scale), "preprocessor": dict(self._cfg.preprocessor)}

    def audio_to_x0(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> torch.Tensor:
        """Audio ``[B, samples]`` -> normalised log-mel ``[B, n_mels, frames]`` (padded with the mean if shorter)."""
        return self.mel(audio, audio_lens)

    def forward(self, z_t: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of noised normalised log-mels ``z_t`` ``[B, n_mels, frames]``."""
        return self.classifier(z_t, log_snr)

    def _noised(self, x0: torch.Tensor, t: torch.Tensor, generator: Optional[torch.Generator] = None):
        log_snr = self.schedule(t.double()).to(x0.dtype)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        return noise_data(x0, log_snr, eps), log_snr

    # ------------------------------------------------------------------------------------------------- training
    def training_step(self, batch, batch_idx):
        audio, audio_lens, labels, _ = batch
        x0 = self.audio_to_x0(audio, audio_lens)
        t = torch.rand(x0.shape[0], device=x0.device) * self.train_max_time
        z_t, log_snr = self._noised(x0, t)
        logits = self(z_t, log_snr)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        self.log("train_loss", loss, prog_bar=True, batch_size=x0.shape[0])
        self.log("train_acc", (logits.argmax(-1) == labels).float().mean(), batch_size=x0.shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        audio, audio_lens, labels, _ = batch
        x0 = self.audio_to_x0(audio, audio_lens)
        generator = torch.Generator(device=x0.device).manual_seed(1000 + batch_idx)  # same noise every epoch
        losses = []
        for t in self._cfg.eval_times:
            z_t, log_snr = self._noised(x0, torch.full((x0.shape[0],), float(t), device=x0.device), generator)
            logits = self(z_t, log_snr)
            losses.append(torch.nn.functional.cross_entropy(logits, labels))
            self._val_correct.setdefault(float(t), []).append((logits.argmax(-1) == labels).float())
        loss = torch.stack(losses).mean()
        self.log("val_loss", loss, batch_size=x0.shape[0], sync_dist=True)
        return loss

    def on_validation_epoch_end(self):
        accuracies = {t: torch.cat(v).mean() for t, v in self._val_correct.items()}
        self._val_correct = {}
        for t, accuracy in accuracies.items():
            self.log(f"val_acc_t{t:.2f}", accuracy, sync_dist=True)
        if accuracies:
            self.log("val_acc", torch.stack(list(accuracies.values())).mean(), prog_bar=True, sync_dist=True)

    @torch.no_grad()
    def accuracy_per_level(self, dataloader, times: Sequence[float], seed: int = 0) -> Dict[float, float]:
        """Accuracy at each diffusion time in ``times`` (0: clean, 1: pure noise) over ``dataloader``."""
        correct = {float(t): [] for t in times}
        generator = torch.Generator(device=self.device).manual_seed(seed)
        for audio, audio_lens, labels, _ in dataloader:
            x0 = self.audio_to_x0(audio.to(self.device), audio_lens.to(self.device))
            for t in times:
                z_t, log_snr = self._noised(x0, torch.full((x0.shape[0],), float(t), device=x0.device), generator)
                correct[float(t)].append((self(z_t, log_snr).argmax(-1).cpu() == labels).float())
        return {t: float(torch.cat(v).mean()) for t, v in correct.items()}

    # ---------------------------------------------------------------------------------------------------- data
    def _loader(self, cfg: DictConfig, shuffle_default: bool):
        return label_loader(cfg, self.labels, self._cfg.sample_rate, shuffle_default)

    def setup_training_data(self, train_data_config):
        self._train_dl = self._loader(train_data_config, shuffle_default=True)

    def setup_validation_data(self, val_data_config):
        self._validation_dl = self._loader(val_data_config, shuffle_default=False)

    def setup_test_data(self, test_data_config):
        self._test_dl = self._loader(test_data_config, shuffle_default=False)

    @classmethod
    def list_available_models(cls):
        return None
