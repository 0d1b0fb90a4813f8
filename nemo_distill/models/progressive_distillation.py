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

"""ProgressiveDistillationModel: one round of progressive distillation (Salimans & Ho 2022) of a diffusion voice.

The teacher is a :class:`DiffusionSpectrogramGenerator` ``.nemo`` sampled with ``teacher_steps`` DDIM steps; the
student starts as a copy of it and learns to make one DDIM step where the teacher makes two, so it samples with
``teacher_steps / 2``. Training data are the teacher's synthetic shards (:mod:`nemo_distill.data.synthetic_shards`):
conditioning and the teacher's own full-step samples, no recordings. For a training example ``x0`` (a teacher sample,
in diffusion space), a student step ``t -> s`` of the ``K``-step grid and fresh noise::

    z_t      = alpha_t x0 + sigma_t tau eps                              (tau: the model's sampling temperature)
    z_s      = two teacher DDIM steps t -> t' -> s from z_t          (t' midway)
    x_target = (z_s - (sigma_s / sigma_t) z_t) / (alpha_s - (sigma_s / sigma_t) alpha_t)
    loss     = w(log_snr_t) |x0_student(z_t) - x_target|^2           (w: the ``weighting`` option)

``stage: guidance`` instead folds classifier-free guidance into the student (Meng et al. 2023, stage one): at any
``t`` the student's single call learns the teacher's guided prediction ``(1 + w) x0(z, c) - w x0(z, null)``, which
costs two calls; the step count is unchanged.

``stage: layers`` is layer distillation (self-distillation, after Presto!-L): the student keeps the step count and
learns to run only ``layers.budgets`` of its denoiser's residual blocks per call (see
:class:`~nemo_distill.modules.mel_denoiser.MelDenoiser`). Each step draws one budget ``n`` from ``budgets`` plus the
full depth ``N`` (which keeps the full-depth model where it was) and matches the frozen full-depth model's
prediction at the states of the K-step sampler::

    loss = w(log_snr_t) |x0_student(z_t; n blocks) - x0_full(z_t)|^2 + denoising_weight w |x0_student - x0|^2

``stage: consistency`` is consistency distillation (Song et al. 2023; CoMoSpeech): on the teacher's
``consistency.grid_steps``-step DDIM grid, the student's prediction at ``z_t`` learns its EMA copy's (decay
``consistency.ema_decay``) one teacher DDIM step further down, and the teacher's DDIM result at the clean end::

    loss = w(log_snr_t) |x0_student(z_t) - sg x0_ema(ddim_teacher(z_t, t -> s), s)|^2

the student samples with ``consistency.steps`` DDIM steps (1 by default).

``layers.rescale`` sets the per-budget skip-stream scales first: ``none``, ``sqrt`` (``1 / sqrt(n)``) or
``calibrated`` (measured on the first training utterances so every budget's output layer sees the full model's RMS).

Training needs the two decoders only (the shards hold FastPitch's conditioning): ``teacher_decoder`` (frozen) and
``decoder`` (the student's, a copy of the teacher's to start with), both
:class:`~nemo_distill.modules.mel_decoder.DiffusionMelDecoder` used through their public API. Checkpoints hold the
student's decoder; the teacher's weights come from ``teacher_path`` and are left out of them. :meth:`save_student`
writes the student as a ``DiffusionSpectrogramGenerator`` ``.nemo`` (the teacher's front-end and the trained decoder)
whose ``default_steps`` is the student's and whose ``distillation`` config section records its lineage.
"""

import copy
from typing import Dict, Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf

from nemo.utils import logging
from nemo_distill.data.synthetic_shards import collate
from nemo_distill.diffusion import (
    WEIGHTINGS,
    check_halvable,
    consistency_target,
    noise_data,
    student_step_log_snrs,
    teacher_two_step,
    two_step_target,
    weighted_denoising_loss,
)
from nemo_distill.models.diffusion_spectrogram_generator import DiffusionSpectrogramGenerator
from nemo_distill.models.shard_distillation import ShardDistillationModel
from nemo_distill.modules.mel_denoiser import initial_skip_scales

__all__ = ["LAYER_RESCALES", "ProgressiveDistillationModel", "STAGES", "check_consistency_config"]

STAGES = ("progressive", "guidance", "layers", "consistency")
LAYER_RESCALES = ("none", "sqrt", "calibrated")


class ProgressiveDistillationModel(ShardDistillationModel):
    """One distillation round. Config keys: ``teacher_path``, ``teacher_steps``, ``stage`` (``progressive`` |
    ``guidance`` | ``layers`` | ``consistency``), ``guidance_scale`` (guidance stage), ``layers`` (layer stage),
    ``consistency`` (``steps``, ``grid_steps``, ``ema_decay``), ``weighting``, ``weighting_gamma``, ``synthetic_data`` (a
    complete shard store), ``val_utterances`` (held out from training), ``max_frames``, ``train_ds``/
    ``validation_ds`` (``batch_size``), ``optim``; ``lineage`` (free-form, copied into the student's config)."""

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        stage = cfg.get("stage", "progressive")
        if stage not in STAGES:
            raise ValueError(f"unknown distillation stage {stage!r}; valid options: {list(STAGES)}")
        if cfg.weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {cfg.weighting!r}; valid options: {sorted(WEIGHTINGS)}")
        teacher_steps = int(cfg.teacher_steps)
        if stage == "progressive":
            if teacher_steps < 2:
                raise ValueError(f"a {teacher_steps}-step teacher cannot be halved: teacher_steps must be >= 2")
            check_halvable(teacher_steps, teacher_steps // 2)
        elif stage == "guidance" and float(cfg.get("guidance_scale", 0.0)) <= 0:
            raise ValueError("stage 'guidance' needs guidance_scale > 0 (the weight to fold into the student)")
        if stage == "consistency":
            check_consistency_config(cfg.get("consistency"))
        # the teacher is checked before the data are loaded: a wrong file fails fast
        teacher = DiffusionSpectrogramGenerator.from_nemo(cfg.teacher_path)
        self.layer_budgets = _check_layers(cfg, teacher.decoder) if stage == "layers" else []
        super().__init__(cfg=cfg, trainer=trainer, teacher=teacher)
        del teacher  # the front-end is not needed to train: the shards hold its outputs
        self.stage = stage
        self.teacher_steps = teacher_steps
        self.student_steps = {"progressive": teacher_steps // 2, "consistency": int(cfg.get("consistency", {}).get(
            "steps", 1))}.get(stage, teacher_steps)
        if stage == "consistency":  # the target network: the student's EMA (in checkpoints, for resume)
            self.ema_decoder = copy.deepcopy(self.decoder).requires_grad_(False).eval()
        if self.layer_budgets and self._train_dl is not None:
            self._set_skip_scales(str(cfg.layers.get("rescale", "calibrated")))

    def setup_optimizer_param_groups(self):
        self._optimizer_param_groups = [{"params": list(self.decoder.parameters())}]  # the student's decoder only

    def train(self, mode: bool = True):
        super().train(mode)
        if getattr(self, "ema_decoder", None) is not None:
            self.ema_decoder.eval()
        return self

    @property
    def sampling_layer_budget(self) -> Optional[int]:
        return self.default_layer_budget

    @property
    def default_layer_budget(self) -> Optional[int]:
        """The layer stage's student samples with this budget by default (``layers.default_budget``, else the
        smallest trained one); None for the other stages."""
        if not self.layer_budgets:
            return None
        return int(self._cfg.layers.get("default_budget") or min(self.layer_budgets))

    @torch.no_grad()
    def _set_skip_scales(self, rescale: str) -> None:
        """``layers.rescale`` before training: the student's (and, for the untrained-dropping reference in
        validation, the frozen model's) per-budget skip scales; ``calibrated`` measures them on the first training
        utterances at the K-step grid's noise levels, with fixed noise (the same on every rank and every resume)."""
        denoiser = self.decoder.denoiser
        if rescale == "calibrated":
            utterances = self._synthetic_utterances()
            first = int(self._cfg.get("val_utterances", 0))
            count = min(int(self._cfg.layers.get("calibration_utterances", 16)), len(utterances) - first)
            batch = collate([utterances[i] for i in range(first, first + count)])
            generator = torch.Generator().manual_seed(0)
            x0, cond, coarse, mask = self._window(batch, generator=generator)
            step = torch.arange(x0.shape[0]) % self.student_steps
            log_snr, _, _ = student_step_log_snrs(self.decoder.settings.schedule, self.student_steps, step,
                                                  dtype=x0.dtype, t_start=self.decoder.settings.t_start)
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
            z_t = noise_data(x0, log_snr, self.decoder.settings.temperature * noise) * mask
            prior = self.decoder.prior_input(coarse) * mask
            scales = denoiser.calibrate_skip_scales(z_t, log_snr, cond, prior, mask)
        else:
            scales = initial_skip_scales(denoiser.num_blocks, rescale)
        denoiser.skip_scales.copy_(scales)
        self.teacher_decoder.denoiser.skip_scales.copy_(scales)
        logging.info(f"layer stage: skip scales ({rescale}) " + ", ".join(f"{v:.3f}" for v in scales.tolist()))

    # --------------------------------------------------------------------------------------------- training
    def distillation_loss(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        x0, cond, coarse, mask = self._window(batch)
        settings, batch_size = self.decoder.settings, x0.shape[0]
        t_start = settings.t_start
        if self.stage == "consistency":
            return self._consistency_loss(x0, cond, coarse, mask)
        if self.stage in ("progressive", "layers"):
            step = torch.randint(0, self.student_steps, (batch_size,), device=x0.device)
            log_snr_t, log_snr_mid, log_snr_s = student_step_log_snrs(
                settings.schedule, self.student_steps, step, dtype=x0.dtype, t_start=t_start)
        else:
            log_snr_t = settings.schedule(t_start * torch.rand(batch_size, device=x0.device, dtype=torch.float64))
            log_snr_t = log_snr_t.to(x0.dtype)
        # the states the sampler visits: x0 from the teacher, noise at the sampling temperature (DDIM from
        # temperature * eps stays near alpha * x0 + sigma * temperature * eps)
        z_t = noise_data(x0, log_snr_t, settings.temperature * torch.randn_like(x0)) * mask
        teacher = self.teacher_decoder
        if self.stage == "layers":
            return self._layer_loss(x0, z_t, log_snr_t, cond, coarse, mask)
        with torch.no_grad():
            if self.stage == "progressive":
                teacher_x0 = lambda z, log_snr: teacher.x0_prediction(z, log_snr, cond, coarse, mask)  # noqa: E731
                z_s = teacher_two_step(teacher_x0, z_t, log_snr_t, log_snr_mid, log_snr_s)
                x0_target = two_step_target(z_t, z_s, log_snr_t, log_snr_s) * mask
            else:
                x0_target = teacher.x0_prediction(z_t, log_snr_t, cond, coarse, mask,
                                                  guidance_scale=float(self._cfg.guidance_scale))
        x0_student = self.decoder.x0_prediction(z_t, log_snr_t, cond, coarse, mask)
        return weighted_denoising_loss(x0_student, z_t, log_snr_t, x0_target, "x0", self._cfg.weighting,
                                       float(self._cfg.get("weighting_gamma", 5.0)), mask=mask)

    def _layer_loss(self, x0, z_t, log_snr_t, cond, coarse, mask) -> torch.Tensor:
        """Self-distillation at one budget drawn from ``layer_budgets`` + the full depth (see the module docstring)."""
        choices = sorted(set(self.layer_budgets) | {self.decoder.num_blocks})
        budget = choices[int(torch.randint(0, len(choices), (1,)))]
        with torch.no_grad():
            x0_full = self.teacher_decoder.x0_prediction(z_t, log_snr_t, cond, coarse, mask,
                                                         layer_budget=self.teacher_decoder.num_blocks)
        x0_student = self.decoder.x0_prediction(z_t, log_snr_t, cond, coarse, mask, layer_budget=budget)
        weighting, gamma = self._cfg.weighting, float(self._cfg.get("weighting_gamma", 5.0))
        loss = weighted_denoising_loss(x0_student, z_t, log_snr_t, x0_full, "x0", weighting, gamma, mask=mask)
        denoising_weight = float(self._cfg.layers.get("denoising_weight", 0.0))
        if denoising_weight > 0:
            loss = loss + denoising_weight * weighted_denoising_loss(x0_student, z_t, log_snr_t, x0, "x0", weighting,
                                                                     gamma, mask=mask)
        return loss

    def _consistency_loss(self, x0, cond, coarse, mask) -> torch.Tensor:
        """Consistency distillation on the teacher's ``consistency.grid_steps``-step DDIM grid: the student's x0 at
        ``z_t`` against its EMA copy's at the teacher's DDIM step ``z_s`` (the teacher's result at the clean end)."""
        settings, grid_steps = self.decoder.settings, int(self._cfg.consistency.grid_steps)
        step = torch.randint(0, grid_steps, (x0.shape[0],), device=x0.device)
        log_snr_t, _, log_snr_s = student_step_log_snrs(settings.schedule, grid_steps, step, dtype=x0.dtype,
                                                        t_start=settings.t_start)
        z_t = noise_data(x0, log_snr_t, settings.temperature * torch.randn_like(x0)) * mask
        x0_target = consistency_target(
            lambda z, log_snr: self.teacher_decoder.x0_prediction(z, log_snr, cond, coarse, mask),
            lambda z, log_snr: self.ema_decoder.x0_prediction(z * mask, log_snr, cond, coarse, mask),
            z_t, log_snr_t, log_snr_s) * mask
        x0_student = self.decoder.x0_prediction(z_t, log_snr_t, cond, coarse, mask)
        return weighted_denoising_loss(x0_student, z_t, log_snr_t, x0_target, "x0", self._cfg.weighting,
                                       float(self._cfg.get("weighting_gamma", 5.0)), mask=mask)

    @torch.no_grad()
    def on_train_batch_end(self, outputs, batch, batch_idx):
        """The consistency stage's target network follows the student: ``ema = decay ema + (1 - decay) student``."""
        if self.stage != "consistency":
            return
        decay = float(self._cfg.consistency.get("ema_decay", 0.95))
        for ema, online in zip(self.ema_decoder.parameters(), self.decoder.parameters()):
            ema.lerp_(online, 1.0 - decay)
        for ema, online in zip(self.ema_decoder.buffers(), self.decoder.buffers()):
            ema.copy_(online)

    def training_step(self, batch, batch_idx):
        loss = self.distillation_loss(batch)
        if not torch.isfinite(loss):
            logging.error(f"non-finite distillation loss at step {self.global_step}: stopping; the weights of the "
                          "last good step are kept. Lower model.optim.lr.")
            self.nonfinite_loss_step = int(self.global_step)
            self.trainer.should_stop = True
            return None
        self.log("distill_loss", loss, prog_bar=True, batch_size=batch["lengths"].shape[0])
        return loss

    # ------------------------------------------------------------------------------------------------ output
    def save_student(self, path: str, lineage: Optional[Dict] = None) -> str:
        """Write the student as a ``DiffusionSpectrogramGenerator`` ``.nemo`` (atomically, never over a finished
        one): default steps = the student's, guidance folded in (``stage: guidance``), the layer stage's default
        budget, ``distillation`` = its lineage."""
        layers, diffusion = {}, {}
        if self.layer_budgets:
            layers = {"layer_budgets": list(self.layer_budgets), "layer_budget": self.default_layer_budget,
                      "num_blocks": int(self.decoder.num_blocks),
                      "layer_rescale": str(self._cfg.layers.get("rescale", "calibrated")),
                      "layer_denoising_weight": float(self._cfg.layers.get("denoising_weight", 0.0))}
            diffusion = {"layer_budget": self.default_layer_budget}
        if self.stage == "consistency":
            layers = {f"consistency_{k}": v for k, v in OmegaConf.to_container(self._cfg.consistency).items()}
        return super().save_student(path, {
            "stage": self.stage, "teacher_steps": int(self.teacher_steps), "steps": int(self.student_steps),
            "weighting": str(self._cfg.weighting), "guidance_scale_folded": (
                float(self._cfg.guidance_scale) if self.stage == "guidance" else 0.0),
            **layers, **(lineage or {}),
        }, diffusion)


def check_consistency_config(section) -> None:
    """The ``consistency`` section of a consistency stage (ValueError naming the bad key)."""
    section = section or {}
    if int(section.get("grid_steps", 0)) < 2:
        raise ValueError(f"consistency.grid_steps must be >= 2 (the teacher's DDIM grid), got "
                         f"{section.get('grid_steps')}")
    if int(section.get("steps", 1)) < 1:
        raise ValueError(f"consistency.steps must be >= 1, got {section.get('steps')}")
    if not 0.0 <= float(section.get("ema_decay", 0.95)) < 1.0:
        raise ValueError(f"consistency.ema_decay must be in [0, 1), got {section.get('ema_decay')}")


def _check_layers(cfg: DictConfig, decoder) -> list:
    """The ``layers`` section of a layer stage, checked against the decoder: the budgets to train."""
    layers = cfg.get("layers") or {}
    budgets = list(layers.get("budgets") or [])
    if not budgets:
        raise ValueError("stage 'layers' needs layers.budgets: the numbers of residual blocks to train, e.g. [4, 6]")
    if decoder.num_blocks is None:
        raise ValueError(f"{type(decoder.denoiser).__name__} has no layer budgets: stage 'layers' needs a MelDenoiser")
    for budget in budgets + [layers.get("default_budget")]:  # a null default_budget passes
        decoder.check_layer_budget(budget)
    rescale = layers.get("rescale", "calibrated")
    if rescale not in LAYER_RESCALES:
        raise ValueError(f"unknown layers.rescale {rescale!r}; valid options: {list(LAYER_RESCALES)}")
    return sorted(set(int(b) for b in budgets))

