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

Only the student's mel denoiser is trained (and checkpointed: the teacher and the shared front-end are restored from
``teacher_path``). :meth:`save_student` writes the student as a ``DiffusionSpectrogramGenerator`` ``.nemo`` whose
``default_steps`` is the student's and whose ``distillation`` config section records its lineage.
"""

import copy
from typing import Dict, Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.classes import ModelPT
from nemo.utils import logging
from nemo_distill.data.synthetic_shards import SyntheticUtterances, collate
from nemo_distill.diffusion import (
    WEIGHTINGS,
    cfg_model_fn,
    check_halvable,
    noise_data,
    prediction_to_x0_eps,
    student_step_log_snrs,
    teacher_two_step,
    two_step_target,
    weighted_denoising_loss,
)
from nemo_distill.models.diffusion_spectrogram_generator import DiffusionSpectrogramGenerator, _frame_mask
from nemo_distill.models.synthetic_data import seeded_noise
from nemo_distill.utils.files import atomic_path

__all__ = ["ProgressiveDistillationModel", "STAGES"]

STAGES = ("progressive", "guidance")


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
        elif float(cfg.get("guidance_scale", 0.0)) <= 0:
            raise ValueError("stage 'guidance' needs guidance_scale > 0 (the weight to fold into the student)")
        # the teacher is checked before the data are loaded: a wrong file fails fast
        teacher = DiffusionSpectrogramGenerator.from_nemo(cfg.teacher_path)
        super().__init__(cfg=cfg, trainer=trainer)
        self.stage = stage
        self.teacher_steps = teacher_steps
        self.student_steps = teacher_steps // 2 if stage == "progressive" else teacher_steps
        student = DiffusionSpectrogramGenerator.from_nemo(cfg.teacher_path)
        student.requires_grad_(False)
        # plain attributes, not submodules: the teacher and the front-end stay out of this model's state_dict
        self.__dict__["_teacher"] = teacher.requires_grad_(False)
        self.__dict__["_student"] = student
        self.denoiser = student.mel_denoiser.requires_grad_(True)
        self._check_data_matches(teacher)
        self._naive_val_l1 = None

    @property
    def teacher(self) -> DiffusionSpectrogramGenerator:
        return self._teacher

    @property
    def student(self) -> DiffusionSpectrogramGenerator:
        return self._student

    def _check_data_matches(self, teacher: DiffusionSpectrogramGenerator) -> None:
        if self._train_dl is None:
            return
        generation = self._synthetic_utterances().generation
        expected = {"n_mels": int(teacher.cfg.n_mel_channels), "cond_channels": int(teacher.mel_denoiser.cond_channels)}
        found = {key: generation.get(key) for key in expected}
        if found != expected:
            raise ValueError(f"the synthetic data {self._cfg.synthetic_data} were made for {found}, the teacher "
                             f"{self._cfg.teacher_path} has {expected}: regenerate them with this teacher")

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
    def on_fit_start(self):
        for model in (self.teacher, self.student):
            model.to(self.device)
        self.teacher.eval()

    def _window(self, batch: Dict[str, torch.Tensor]):
        """A random window of at most ``max_frames`` frames: ``(x0, cond, prior, mask)`` in diffusion space."""
        cond, coarse, mel, lengths = batch["cond"], batch["coarse_mel"], batch["teacher_mel"], batch["lengths"]
        frames, max_frames = mel.shape[-1], int(self._cfg.get("max_frames") or mel.shape[-1])
        if frames > max_frames:
            start = int(torch.randint(0, frames - max_frames + 1, (1,)))
            cond, coarse, mel = (x[..., start: start + max_frames] for x in (cond, coarse, mel))
            lengths, frames = (lengths - start).clamp(0, max_frames), max_frames
        mask = _frame_mask(lengths, frames)
        student = self.student
        return student._x0_from_mel(mel, coarse) * mask, cond * mask, student._prior_input(coarse) * mask, mask

    def _teacher_x0_fn(self, cond, prior, mask, guidance_scale: float = 0.0):
        teacher = self.teacher

        def model_fn(cond_, prior_):
            return lambda z_t, log_snr: teacher.denoise(z_t, log_snr, cond_, prior_, mask)

        prediction_fn = cfg_model_fn(model_fn(cond, prior), model_fn(torch.zeros_like(cond), torch.zeros_like(prior)),
                                     guidance_scale)

        def x0_fn(z_t, log_snr):
            x0, _ = prediction_to_x0_eps(prediction_fn(z_t, log_snr), z_t, log_snr, teacher.parameterization)
            return x0 * mask

        return x0_fn

    def distillation_loss(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        x0, cond, prior, mask = self._window(batch)
        settings, batch_size = self.student.settings, x0.shape[0]
        t_start = settings.t_start
        if self.stage == "progressive":
            step = torch.randint(0, self.student_steps, (batch_size,), device=x0.device)
            log_snr_t, log_snr_mid, log_snr_s = student_step_log_snrs(
                settings.schedule, self.student_steps, step, dtype=x0.dtype, t_start=t_start)
        else:
            log_snr_t = settings.schedule(t_start * torch.rand(batch_size, device=x0.device, dtype=torch.float64))
            log_snr_t = log_snr_t.to(x0.dtype)
        # the states the sampler visits: x0 from the teacher, noise at the sampling temperature (DDIM from
        # temperature * eps stays near alpha * x0 + sigma * temperature * eps)
        z_t = noise_data(x0, log_snr_t, settings.temperature * torch.randn_like(x0)) * mask
        with torch.no_grad():
            if self.stage == "progressive":
                teacher_x0 = self._teacher_x0_fn(cond, prior, mask)
                z_s = teacher_two_step(teacher_x0, z_t, log_snr_t, log_snr_mid, log_snr_s)
                x0_target = two_step_target(z_t, z_s, log_snr_t, log_snr_s) * mask
            else:
                teacher_x0 = self._teacher_x0_fn(cond, prior, mask, float(self._cfg.guidance_scale))
                x0_target = teacher_x0(z_t, log_snr_t)
        prediction = self.denoiser(z_t, log_snr_t, cond, prior, mask)
        return weighted_denoising_loss(prediction, z_t, log_snr_t, x0_target, settings.parameterization,
                                       self._cfg.weighting, float(self._cfg.get("weighting_gamma", 5.0)), mask=mask)

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
    def _sample(self, model: DiffusionSpectrogramGenerator, batch, steps: int) -> torch.Tensor:
        coarse = batch["coarse_mel"]
        noise = seeded_noise(batch["seeds"].tolist(), batch["lengths"], coarse.shape[1], coarse)
        return model.decode_spectrogram(batch["cond"], coarse, batch["lengths"], steps=steps, sampler="ddim",
                                        noise=noise)

    def _l1_to_teacher(self, mel: torch.Tensor, batch) -> torch.Tensor:
        mask = _frame_mask(batch["lengths"], mel.shape[-1]).expand_as(mel)
        return (mel - batch["teacher_mel"]).abs()[mask].mean()

    def validation_step(self, batch, batch_idx):
        """Mel L1 between the student's ``K``-step sample and the teacher's full-step sample from the same noise."""
        size = batch["lengths"].shape[0]
        student_mel = self._sample(self.student, batch, self.student_steps)
        self.log("val_l1_to_teacher", self._l1_to_teacher(student_mel, batch), batch_size=size, sync_dist=True)
        if self._naive_val_l1 is None or batch_idx >= len(self._naive_val_l1):
            naive = self._sample(self.teacher, batch, self.student_steps)  # the teacher sampled naively at K steps
            self._naive_val_l1 = (self._naive_val_l1 or []) + [self._l1_to_teacher(naive, batch)]
        self.log("val_l1_naive_to_teacher", self._naive_val_l1[batch_idx], batch_size=size, sync_dist=True)
        if batch_idx == 0:
            self._log_example(student_mel[0, :, : int(batch["lengths"][0])],
                              batch["teacher_mel"][0, :, : int(batch["lengths"][0])])

    def _log_example(self, student_mel: torch.Tensor, teacher_mel: torch.Tensor) -> None:
        from lightning.pytorch.loggers import TensorBoardLogger

        if not isinstance(self.logger, TensorBoardLogger) or self.trainer.sanity_checking:
            return
        from nemo.collections.tts.parts.utils.helpers import plot_spectrogram_to_numpy
        from nemo_distill.eval.griffin_lim import griffin_lim

        writer, step = self.logger.experiment, self.global_step
        for name, mel in (("student", student_mel), ("teacher_full_steps", teacher_mel)):
            writer.add_image(f"val_mel_{name}", plot_spectrogram_to_numpy(mel.float().cpu().numpy()), step,
                             dataformats="HWC")
        audio = griffin_lim(student_mel.float().cpu().numpy(), self.student.cfg.preprocessor)
        writer.add_audio("val_audio_student_griffin_lim", torch.from_numpy(audio), step,
                         sample_rate=self.student.cfg.sample_rate)

    # ------------------------------------------------------------------------------------------------ output
    def save_student(self, path: str, lineage: Optional[Dict] = None) -> str:
        """Write the student as a ``DiffusionSpectrogramGenerator`` ``.nemo`` (atomically): default steps = the
        student's, guidance folded in (``stage: guidance``), ``distillation`` = its lineage."""
        student = self.student
        cfg = copy.deepcopy(student.cfg)
        with open_dict(cfg):
            cfg.diffusion.default_steps = int(self.student_steps)
            cfg.diffusion.sampler = "ddim"
            cfg.distillation = OmegaConf.create({
                "stage": self.stage, "teacher_steps": int(self.teacher_steps), "steps": int(self.student_steps),
                "weighting": str(self._cfg.weighting), "guidance_scale_folded": (
                    float(self._cfg.guidance_scale) if self.stage == "guidance" else 0.0),
                **(lineage or {}),
            })
        student.cfg = cfg
        device = self.device
        student.to("cpu")
        with atomic_path(path) as tmp:
            student.save_to(tmp)
        student.to(device)
        return path

    @classmethod
    def list_available_models(cls):
        return None
