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

"""A diffusion model of 2-D toy data as a NeMo ``ModelPT``: the diffusion core driven by NeMo and Lightning.

Small enough to train in seconds on a CPU; used to check registration (``.nemo`` save/restore of a plugin class with
``_target_: nemo_distill...`` submodules) and, in tests, as a ``.nemo`` of another class that the voice's loaders
refuse. The 2-D distillation toy (:mod:`nemo_distill.eval.toy_distillation`) trains plain MLPs with the same losses
as the speech models instead: its point is the math, not NeMo's training stack.
"""

from typing import Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig
from torch.utils.data import DataLoader, TensorDataset

from nemo.core.classes import ModelPT
from nemo.core.classes.common import safe_instantiate
from nemo_distill.data.toy2d import sample_toy
from nemo_distill.diffusion import noise_data, sample, weighted_denoising_loss
from nemo_distill.diffusion.settings import DiffusionSettings
from nemo_distill.parts.nemo_integrity import RecordsIntegrity


__all__ = ["ToyDiffusionModel"]


class ToyDiffusionModel(RecordsIntegrity, ModelPT):
    """Unconditional diffusion model of a 2-D toy distribution.

    Config keys: ``denoiser`` (a ``_target_`` taking ``(z_t [B, D], log_snr [B])``), ``diffusion`` (``schedule``
    with ``name`` and its arguments, ``parameterization``, ``weighting``, ``weighting_gamma``, ``default_steps``,
    ``sampler``), ``train_ds``/``validation_ds`` (``dataset``, ``num_samples``, ``batch_size``, ``seed``), ``optim``.
    """

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        super().__init__(cfg=cfg, trainer=trainer)
        self.settings = DiffusionSettings.from_config(self._cfg.diffusion)
        self.schedule, self.parameterization = self.settings.schedule, self.settings.parameterization
        self.denoiser = safe_instantiate(self._cfg.denoiser)

    def forward(self, z_t: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        """Prediction ``[B, D]`` in the configured parameterization for noisy data ``[B, D]`` at ``log_snr`` ``[B]``."""
        return self.denoiser(z_t, log_snr)

    def _denoising_loss(self, x0: torch.Tensor) -> torch.Tensor:
        log_snr = self.schedule(torch.rand(x0.shape[0], device=x0.device, dtype=torch.float64)).to(x0.dtype)
        z_t = noise_data(x0, log_snr, torch.randn_like(x0))
        diffusion = self._cfg.diffusion
        return weighted_denoising_loss(
            self(z_t, log_snr), z_t, log_snr, x0, self.parameterization, diffusion.weighting,
            self.settings.weighting_gamma,
        )

    def training_step(self, batch, batch_idx):
        loss = self._denoising_loss(batch[0])
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self._denoising_loss(batch[0])
        self.log("val_loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
        return loss

    @torch.no_grad()
    def generate(self, num_samples: int, steps: Optional[int] = None, sampler: Optional[str] = None, seed: int = 0):
        """Draw ``num_samples`` points ``[N, D]`` with ``steps`` denoiser calls (default: the config's)."""
        noise = torch.randn(num_samples, self._cfg.denoiser.data_dim, generator=torch.Generator().manual_seed(seed))
        return sample(
            self, noise.to(self.device), steps or self.settings.default_steps, schedule=self.schedule,
            parameterization=self.parameterization, sampler=sampler or self.settings.sampler,
        )

    def _loader(self, cfg: DictConfig, shuffle: bool) -> DataLoader:
        points = sample_toy(cfg.dataset, cfg.num_samples, seed=cfg.get("seed", 0))
        return DataLoader(TensorDataset(points), batch_size=cfg.batch_size, shuffle=shuffle, drop_last=shuffle)

    def setup_training_data(self, train_data_config):
        self._train_dl = self._loader(train_data_config, shuffle=True)

    def setup_validation_data(self, val_data_config):
        self._validation_dl = self._loader(val_data_config, shuffle=False)

    @classmethod
    def list_available_models(cls):
        return None
