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
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.classes import ModelPT
from nemo.utils import logging
from nemo_distill.data.synthetic_shards import SyntheticUtterances, collate, seeded_noise
from nemo_distill.diffusion import (
    WEIGHTINGS,
    SamplingOptions,
    check_halvable,
    frame_mask,
    noise_data,
    student_step_log_snrs,
    teacher_two_step,
    two_step_target,
    weighted_denoising_loss,
)
from nemo_distill.models.diffusion_spectrogram_generator import DiffusionSpectrogramGenerator
from nemo_distill.modules.mel_denoiser import initial_skip_scales
from nemo_distill.parts.tensorboard import log_mels_and_audio
from nemo_distill.utils.files import atomic_path

__all__ = ["LAYER_RESCALES", "ProgressiveDistillationModel", "STAGES"]

STAGES = ("progressive", "guidance", "layers")
LAYER_RESCALES = ("none", "sqrt", "calibrated")
_TEACHER = "teacher_decoder."


class ProgressiveDistillationModel(ModelPT):
    """One distillation round. Config keys: ``teacher_path``, ``teacher_steps``, ``stage`` (``progressive`` |
    ``guidance``), ``guidance_scale`` (guidance stage), ``weighting``, ``weighting_gamma``, ``synthetic_data`` (a
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
        # the teacher is checked before the data are loaded: a wrong file fails fast
        teacher = DiffusionSpectrogramGenerator.from_nemo(cfg.teacher_path)
        super().__init__(cfg=cfg, trainer=trainer)
        self.stage = stage
        self.teacher_steps = teacher_steps
        self.student_steps = teacher_steps // 2 if stage == "progressive" else teacher_steps
        self.layer_budgets = _check_layers(cfg, teacher.decoder) if stage == "layers" else []
        self.teacher_decoder = teacher.decoder.requires_grad_(False).eval()
        self.decoder = copy.deepcopy(teacher.decoder).requires_grad_(True)  # the student's
        self.teacher_cfg = copy.deepcopy(teacher.cfg)
        del teacher  # the front-end is not needed to train: the shards hold its outputs
        self._register_state_dict_hook(_drop_teacher)
        self._register_load_state_dict_pre_hook(self._fill_teacher)
        self._check_data_matches()
        self._naive_val_l1 = None
        if self.layer_budgets and self._train_dl is not None:
            self._set_skip_scales(str(cfg.layers.get("rescale", "calibrated")))

    def setup_optimizer_param_groups(self):
        self._optimizer_param_groups = [{"params": list(self.decoder.parameters())}]  # the student's decoder only

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher_decoder.eval()
        return self

    def _fill_teacher(self, state_dict, prefix, *args):
        """Load hook: checkpoints leave the teacher out (its weights are ``teacher_path``'s); round checkpoints
        written before the decoder unit name the student's weights ``denoiser.*``."""
        for key in [k for k in state_dict if k.startswith(prefix + "denoiser.")]:
            state_dict[prefix + "decoder." + key[len(prefix):]] = state_dict.pop(key)
        for key, value in self.teacher_decoder.state_dict(prefix=prefix + _TEACHER).items():
            state_dict.setdefault(key, value)
        state_dict.setdefault(prefix + "decoder.residual_scale", self.decoder.residual_scale)

    def _check_data_matches(self) -> None:
        if self._train_dl is None:
            return
        generation = self._synthetic_utterances().generation
        expected = {"n_mels": int(self.teacher_cfg.n_mel_channels), "cond_channels": self.teacher_decoder.cond_channels}
        found = {key: generation.get(key) for key in expected}
        if found != expected:
            raise ValueError(f"the synthetic data {self._cfg.synthetic_data} were made for {found}, the teacher "
                             f"{self._cfg.teacher_path} has {expected}: regenerate them with this teacher")

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

    # ------------------------------------------------------------------------------------------------- data
    def _synthetic_utterances(self) -> SyntheticUtterances:
        """The store's utterances, read and checksummed once for both loaders."""
        if getattr(self, "_synthetic", None) is None:
            self._synthetic = SyntheticUtterances(self._cfg.synthetic_data)
        return self._synthetic

    def _loader(self, cfg: DictConfig, train: bool):
        utterances = self._synthetic_utterances()
        held_out = int(self._cfg.get("val_utterances", 0))
        indices = range(held_out, len(utterances)) if train else range(min(held_out, len(utterances)))
        if not indices:
            raise ValueError(f"{self._cfg.synthetic_data} holds {len(utterances)} utterances: none left for "
                             f"{'training' if train else 'validation'} with val_utterances={held_out}")
        dataset = torch.utils.data.Subset(utterances, indices)
        return torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=train, collate_fn=collate,
                                           drop_last=False, num_workers=cfg.get("num_workers", 0))

    def setup_training_data(self, train_data_config):
        self._train_dl = self._loader(train_data_config, train=True)

    def setup_validation_data(self, val_data_config):
        if int(self._cfg.get("val_utterances", 0)) > 0:
            self._validation_dl = self._loader(val_data_config, train=False)

    # --------------------------------------------------------------------------------------------- training
    def _window(self, batch: Dict[str, torch.Tensor], generator: Optional[torch.Generator] = None):
        """A random window of at most ``max_frames`` frames: ``(x0, cond, coarse, mask)``, ``x0`` the teacher's
        sample in diffusion space."""
        decoder = self.decoder
        mel, coarse, cond, lengths = decoder.random_window(
            batch["teacher_mel"], batch["coarse_mel"], batch["cond"], lengths=batch["lengths"],
            max_frames=self._cfg.get("max_frames") or batch["teacher_mel"].shape[-1], generator=generator)
        mask = frame_mask(lengths, mel.shape[-1])
        return decoder.x0_from_mel(mel, coarse) * mask, cond * mask, coarse, mask

    def distillation_loss(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        x0, cond, coarse, mask = self._window(batch)
        settings, batch_size = self.decoder.settings, x0.shape[0]
        t_start = settings.t_start
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

    # ------------------------------------------------------------------------------------------- validation
    @torch.no_grad()
    def _sample(self, decoder, batch, steps: int) -> torch.Tensor:
        """``steps`` DDIM steps from the utterances' own noise (the layer stage: at its default budget)."""
        coarse = batch["coarse_mel"]
        noise = seeded_noise(batch["seeds"].tolist(), batch["lengths"], coarse.shape[1], coarse)
        budget = self.default_layer_budget  # None: the decoder's own default
        return decoder.decode(batch["cond"], coarse, batch["lengths"],
                              SamplingOptions(steps=steps, sampler="ddim", noise=noise, layer_budget=budget))

    def _l1_to_teacher(self, mel: torch.Tensor, batch) -> torch.Tensor:
        mask = frame_mask(batch["lengths"], mel.shape[-1]).expand_as(mel)
        return (mel - batch["teacher_mel"]).abs()[mask].mean()

    def validation_step(self, batch, batch_idx):
        """Mel L1 between the student's ``K``-step sample and the teacher's full-step sample from the same noise."""
        size = batch["lengths"].shape[0]
        student_mel = self._sample(self.decoder, batch, self.student_steps)
        self.log("val_l1_to_teacher", self._l1_to_teacher(student_mel, batch), batch_size=size, sync_dist=True)
        if self._naive_val_l1 is None or batch_idx >= len(self._naive_val_l1):
            # the teacher, naively at K steps (the layer stage: its blocks dropped without training)
            naive = self._sample(self.teacher_decoder, batch, self.student_steps)
            self._naive_val_l1 = (self._naive_val_l1 or []) + [self._l1_to_teacher(naive, batch)]
        self.log("val_l1_naive_to_teacher", self._naive_val_l1[batch_idx], batch_size=size, sync_dist=True)
        if batch_idx == 0 and not self.trainer.sanity_checking:
            length = int(batch["lengths"][0])
            log_mels_and_audio(self.logger, self.global_step, {
                "student": student_mel[0, :, :length], "teacher_full_steps": batch["teacher_mel"][0, :, :length]},
                audio_name="student", preprocessor_cfg=self.teacher_cfg.preprocessor,
                sample_rate=self.teacher_cfg.sample_rate)

    # ------------------------------------------------------------------------------------------------ output
    def save_student(self, path: str, lineage: Optional[Dict] = None) -> str:
        """Write the student as a ``DiffusionSpectrogramGenerator`` ``.nemo`` (atomically): the teacher's front-end
        with the trained decoder, default steps = the student's, guidance folded in (``stage: guidance``),
        ``distillation`` = its lineage."""
        student = DiffusionSpectrogramGenerator.from_nemo(self._cfg.teacher_path)
        student.decoder.load_state_dict({k: v.cpu() for k, v in self.decoder.state_dict().items()})
        cfg = copy.deepcopy(student.cfg)
        layers = {}
        if self.layer_budgets:
            layers = {"layer_budgets": list(self.layer_budgets), "layer_budget": self.default_layer_budget,
                      "num_blocks": int(self.decoder.num_blocks),
                      "layer_rescale": str(self._cfg.layers.get("rescale", "calibrated")),
                      "layer_denoising_weight": float(self._cfg.layers.get("denoising_weight", 0.0))}
        with open_dict(cfg):
            cfg.diffusion.default_steps = int(self.student_steps)
            cfg.diffusion.sampler = "ddim"
            if self.layer_budgets:
                cfg.diffusion.layer_budget = self.default_layer_budget
            cfg.distillation = OmegaConf.create({
                "stage": self.stage, "teacher_steps": int(self.teacher_steps), "steps": int(self.student_steps),
                "weighting": str(self._cfg.weighting), "guidance_scale_folded": (
                    float(self._cfg.guidance_scale) if self.stage == "guidance" else 0.0),
                **layers, **(lineage or {}),
            })
        student.cfg = cfg
        with atomic_path(path, overwrite=False) as tmp:  # a finished student is never replaced
            student.save_to(tmp)
        return path

    @classmethod
    def list_available_models(cls):
        return None


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


def _drop_teacher(module, state_dict, prefix, local_metadata):
    """State-dict hook: the frozen teacher is ``teacher_path``'s, not part of a round's checkpoint."""
    for key in [k for k in state_dict if k.startswith(prefix + _TEACHER)]:
        del state_dict[key]
    return state_dict
