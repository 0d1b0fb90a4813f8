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

"""DistributionMatchingDistillation: a k-step generator of a diffusion voice by distribution matching (DMD/DMD2).

Three decoders (:class:`~nemo_distill.modules.mel_decoder.DiffusionMelDecoder`):

- ``teacher_decoder``, the frozen teacher: the "real" x0-denoiser (classifier-free-guided at ``dmd.guidance_scale``,
  which folds the guidance into the generator);
- ``decoder``, the generator (the student; initialised from the teacher or from ``generator_path``, e.g. a
  progressive student): from the sampler's starting state it makes ``dmd.steps`` DDIM steps; training makes the step
  after a random number of its own steps, simulated without gradients (DMD2's backward simulation);
- ``fake_decoder``, initialised from the teacher and trained online by denoising score matching on the generator's
  samples, so it tracks the generator's distribution.

The turns alternate (FastGen's schedule, DMD2's two-time-scale ratio): ``dmd.fake_updates`` optimizer steps of the
fake denoiser (and the discriminator head), then one of the generator, so every ``training_step`` makes exactly one
backward pass (what DDP needs). The generator's loss, for its sample ``x`` ``[B, n_mels, T]`` (diffusion space) noised
to ``z = alpha x + sigma eps`` at ``t ~ U[dmd.t_range]``::

    g      = (x0_fake(z) - x0_real(z)) / mean_valid |x - x0_real(z)|
    L_G    = 0.5 |x - sg(x - g)|^2                                                  (distribution matching)
           + regression_weight |x(noise_u) - x0_teacher_u|^2       (the shards' teacher sample of the same noise)
           + adversarial_weight softplus(-D(features_fake(z_adv(x))))      (non-saturating GAN)
    L_fake = w(log_snr) |x0_fake(z(sg x)) - sg x|^2 + discriminator_weight (softplus(D(fake)) + softplus(-D(real)))

``D`` is a :class:`~nemo_distill.modules.feature_discriminator.FeatureDiscriminator` on the fake denoiser's
features. What it calls real is ``dmd.adversarial_real``: ``teacher`` (the teacher's samples from the shards, noised
the same way) or ``recordings`` (DMD2's GAN on real data): the recordings' mels of a real-data store
(``real_data``, :mod:`nemo_distill.data.recording_shards`) with the conditioning aligned to them; the fake side and
the generator's GAN term are then the generator's samples on those same recordings' conditioning, so the head judges
mels against their conditioning and the GAN pulls the generator toward the recordings while the DMD term keeps it on
the teacher's distribution. The three noise-level ranges (``dmd.t_range``, ``dmd.fake_t_range``,
``dmd.adversarial_t_range``) are separate settings.

A round of ``generator_steps`` generator updates trains ``generator_steps * (fake_updates + 1)`` optimizer steps (the
trainer's ``max_steps``; Lightning counts every optimizer step). Checkpoints hold the generator, the fake denoiser, the
head and both optimizers (the teacher is ``teacher_path``'s); :meth:`save_student` writes the generator as a
``DiffusionSpectrogramGenerator`` ``.nemo`` with ``default_steps: dmd.steps`` and its lineage.
"""

import copy
from typing import Dict, Optional, Tuple

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf

from nemo_distill.data.recording_shards import RecordingShardStore, RecordingUtterances, collate_recordings
from nemo_distill.diffusion import (
    WEIGHTINGS,
    SamplingOptions,
    dmd_fake_losses,
    dmd_generator_losses,
    dmd_generator_turn,
    noise_data,
    sampling_log_snrs,
    simulate_steps,
)
from nemo_distill.models.diffusion_spectrogram_generator import DiffusionSpectrogramGenerator
from nemo_distill.models.shard_distillation import ShardDistillationModel
from nemo_distill.modules.feature_discriminator import FeatureDiscriminator
from nemo_distill.utils.files import sha256_file

__all__ = ["DMD_DEFAULTS", "DMD_ROUND_KEYS", "DistributionMatchingDistillation", "check_dmd_config"]

DMD_DEFAULTS = {
    "steps": 1, "fake_updates": 5, "guidance_scale": 0.0, "temperature": None, "t_range": [0.02, 0.98],
    "fake_t_range": [0.0, 1.0], "adversarial_t_range": [0.0, 1.0], "fake_weighting": None,
    "regression_weight": 0.0, "adversarial_weight": 0.0, "discriminator_weight": 0.01, "fake_lr": None,
    "max_grad_norm": 10.0, "adversarial_real": "teacher",
}
ADVERSARIAL_REAL = ("teacher", "recordings")  # what the GAN head calls real

# the section's keys for its round (the round runner, scripts/distill.py), not the model's
DMD_ROUND_KEYS = ("enabled", "init", "generator_steps", "lr")
DMD_INITS = ("teacher", "student")


def check_dmd_config(section) -> Dict:
    """The ``dmd`` section with its defaults filled in (a dict); ValueError naming the first bad key."""
    if OmegaConf.is_config(section):
        section = OmegaConf.to_container(section, resolve=True)
    section = {k: v for k, v in dict(section or {}).items() if k not in DMD_ROUND_KEYS}
    unknown = sorted(set(section) - set(DMD_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown dmd keys {unknown}; valid keys: {sorted(DMD_DEFAULTS)}")
    dmd = {**DMD_DEFAULTS, **section}
    if int(dmd["steps"]) < 1:
        raise ValueError(f"dmd.steps must be >= 1 (the generator's sampling steps), got {dmd['steps']}")
    if int(dmd["fake_updates"]) < 1:
        raise ValueError(f"dmd.fake_updates must be >= 1 (fake-denoiser updates per generator update), got "
                         f"{dmd['fake_updates']}")
    for key in ("t_range", "fake_t_range", "adversarial_t_range"):
        low, high = (float(v) for v in dmd[key])
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(f"dmd.{key} must be [low, high] with 0 <= low < high <= 1, got {dmd[key]}")
    for key in ("regression_weight", "adversarial_weight", "discriminator_weight", "guidance_scale"):
        if float(dmd[key]) < 0:
            raise ValueError(f"dmd.{key} must be >= 0, got {dmd[key]}")
    if dmd["temperature"] is not None and float(dmd["temperature"]) <= 0:
        raise ValueError(f"dmd.temperature must be > 0 or null (the teacher's), got {dmd['temperature']}")
    if dmd["adversarial_real"] not in ADVERSARIAL_REAL:
        raise ValueError(f"unknown dmd.adversarial_real {dmd['adversarial_real']!r}; valid options: "
                         f"{list(ADVERSARIAL_REAL)}")
    if dmd["adversarial_real"] == "recordings" and float(dmd["adversarial_weight"]) <= 0:
        raise ValueError("dmd.adversarial_real=recordings needs dmd.adversarial_weight > 0 (the GAN term is what "
                         "learns from the recordings)")
    if dmd["fake_weighting"] is not None and dmd["fake_weighting"] not in WEIGHTINGS:
        raise ValueError(f"unknown dmd.fake_weighting {dmd['fake_weighting']!r}; valid options: {sorted(WEIGHTINGS)}")
    return dmd


class DistributionMatchingDistillation(ShardDistillationModel):
    """Config keys: ``teacher_path``, ``generator_path`` (null: start from the teacher), ``dmd`` (see
    :data:`DMD_DEFAULTS` and the module docstring), ``optim`` (``lr``, ``betas``, ``weight_decay``: AdamW of the
    generator; the fake denoiser's at ``dmd.fake_lr``, default the same), ``synthetic_data``, ``real_data`` (a
    real-data store of this teacher; ``dmd.adversarial_real: recordings`` only), ``val_utterances``, ``max_frames``,
    ``train_ds``/``validation_ds``."""

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        self.dmd = check_dmd_config(cfg.get("dmd"))  # before any file is read
        teacher = DiffusionSpectrogramGenerator.from_nemo(cfg.teacher_path)
        generator_init = None
        if cfg.get("generator_path"):
            generator_init = DiffusionSpectrogramGenerator.from_nemo(cfg.generator_path).decoder.state_dict()
            expected = teacher.decoder.state_dict()
            mismatched = sorted(k for k in expected if k not in generator_init
                                or generator_init[k].shape != expected[k].shape)
            if mismatched:
                raise ValueError(f"{cfg.generator_path} has another decoder than the teacher {cfg.teacher_path} "
                                 f"({len(mismatched)} tensors differ, e.g. {mismatched[0]}): a DMD generator must "
                                 "start from the teacher or one of its students")
        super().__init__(cfg=cfg, trainer=trainer, teacher=teacher)
        del teacher
        self.automatic_optimization = False
        self.student_steps = int(self.dmd["steps"])
        if generator_init is not None:
            self.decoder.load_state_dict(generator_init)
        self.fake_decoder = copy.deepcopy(self.teacher_decoder).requires_grad_(True).train()
        self.discriminator = None
        if float(self.dmd["adversarial_weight"]) > 0:
            self.discriminator = FeatureDiscriminator(self.fake_decoder.feature_channels)
        self.recordings = self._recordings() if self.dmd["adversarial_real"] == "recordings" else None
        self._real_generator: Optional[torch.Generator] = None

    def _recordings(self) -> RecordingUtterances:
        """The real-data store ``real_data``, checked: made by this teacher (its sha256) for its mel and conditioning
        sizes; ValueError naming the store otherwise."""
        root = self._cfg.get("real_data")
        if not root:
            raise ValueError("dmd.adversarial_real=recordings needs model.real_data, a real-data store of the teacher "
                             "(scripts/distill.py makes it from recordings.manifest)")
        recordings = RecordingUtterances(root)
        made_by, teacher = recordings.generation.get("teacher_sha256"), sha256_file(self._cfg.teacher_path)
        if made_by != teacher:
            raise ValueError(f"the real data {root} were made by another teacher (sha256 {made_by}), not "
                             f"{self._cfg.teacher_path} ({teacher}): their conditioning is that teacher's "
                             "front-end's; make them again with this teacher")
        expected = {"n_mels": int(self.teacher_cfg.n_mel_channels),
                    "cond_channels": self.teacher_decoder.cond_channels}
        found = {key: recordings.generation.get(key) for key in expected}
        if found != expected:
            raise ValueError(f"the real data {root} hold {found}, the teacher has {expected}")
        return recordings

    @classmethod
    def check_section(cls, section, plan_has_ladder: bool = True) -> None:
        """The section of a distillation plan: the model's keys, plus ``init`` (the generator starts from the teacher
        or the ladder's last student), ``generator_steps`` (>= 1) and ``lr``."""
        check_dmd_config(section)
        init = section.get("init", "teacher")
        if init not in DMD_INITS:
            raise ValueError(f"unknown dmd.init {init!r}; valid options: {sorted(DMD_INITS)}")
        if init == "student" and not plan_has_ladder:
            raise ValueError("dmd.init=student needs a progressive round before it (plan.student_steps < "
                             "plan.teacher_steps); the plan has none")
        if int(section.get("generator_steps", 0)) < 1:
            raise ValueError(f"dmd.generator_steps must be >= 1, got {section.get('generator_steps')}")

    @classmethod
    def benchmark_row_of(cls, row: str, lineage) -> str:
        """``<row>_recordings`` for a generator whose GAN learnt from recordings."""
        return f"{row}_recordings" if lineage.get("dmd_adversarial_real") == "recordings" else row

    @classmethod
    def needs_recordings(cls, section) -> bool:
        """``dmd.adversarial_real: recordings``: the round reads a real-data store (``model.real_data``)."""
        return (section or {}).get("adversarial_real", DMD_DEFAULTS["adversarial_real"]) == "recordings"

    @classmethod
    def round_config(cls, section, model_cfg: DictConfig, previous_student: Optional[str]) -> Dict:
        return {"dmd": {k: v for k, v in section.items() if k not in DMD_ROUND_KEYS},
                "generator_path": previous_student if section.get("init", "teacher") == "student" else None,
                "optim": {"lr": float(section.get("lr", 5e-5)), "betas": [0.9, 0.999], "weight_decay": 0.01}}

    @classmethod
    def round_optimizer_steps(cls, section, round_steps: int) -> int:
        """Every optimizer step counts: ``fake_updates`` fake steps, then one generator step."""
        return int(section.generator_steps) * (int(section.get("fake_updates", DMD_DEFAULTS["fake_updates"])) + 1)

    @property
    def temperature(self) -> float:
        """The generator's starting-noise scale (``dmd.temperature``, default the teacher's sampling temperature)."""
        value = self.dmd["temperature"]
        return float(value) if value is not None else float(self.decoder.settings.temperature)

    def configure_optimizers(self):
        optim = self._cfg.optim
        kwargs = {"betas": tuple(optim.get("betas", (0.9, 0.999))), "weight_decay": float(optim.get("weight_decay",
                                                                                                      0.01))}
        generator = torch.optim.AdamW(self.decoder.parameters(), lr=float(optim.lr), **kwargs)
        guidance = list(self.fake_decoder.parameters())
        if self.discriminator is not None:
            guidance += list(self.discriminator.parameters())
        fake_lr = float(self.dmd["fake_lr"] if self.dmd["fake_lr"] is not None else optim.lr)
        return [generator, torch.optim.AdamW(guidance, lr=fake_lr, **kwargs)]

    # --------------------------------------------------------------------------------------------- training
    def _levels(self, key: str, batch_size: int, like: torch.Tensor) -> torch.Tensor:
        """Log-SNRs ``[B]`` at ``t ~ U[dmd.<key>]``."""
        low, high = (float(v) for v in self.dmd[key])
        t = low + (high - low) * torch.rand(batch_size, device=like.device, dtype=torch.float64)
        return self.decoder.settings.schedule(t.clamp(min=1e-4, max=1.0 - 1e-4)).to(like.dtype)

    def generate(self, cond, coarse, mask, noise: torch.Tensor, step: Optional[int] = None,
                 grad: bool = False) -> torch.Tensor:
        """The generator's x0 ``[B, n_mels, T]`` (diffusion space) at its step ``step`` (None: a random one, the same
        for the batch) from the starting state of ``noise`` ``[B, n_mels, T]``; earlier steps without gradients."""
        settings, steps = self.decoder.settings, self.student_steps
        options = SamplingOptions(steps=steps, noise=noise, temperature=self.temperature, t_start=settings.t_start)
        z = self.decoder.starting_state(coarse, mask, options)
        log_snrs = sampling_log_snrs(settings.schedule, steps, device=z.device, dtype=z.dtype,
                                     t_start=settings.t_start)
        step = int(torch.randint(0, steps, (1,))) if step is None else int(step)
        x0_fn = lambda z_t, log_snr: self.decoder.x0_prediction(z_t, log_snr, cond, coarse, mask)  # noqa: E731
        z = simulate_steps(x0_fn, z, log_snrs, step)
        with torch.set_grad_enabled(grad):
            return x0_fn(z, log_snrs[step].expand(z.shape[0]))

    def real_window(self, batch_size: int, device: torch.device) -> Tuple[torch.Tensor, ...]:
        """A random batch of recordings (drawn with replacement, each rank its own stream), cut to a random window of
        at most ``max_frames``: ``(x0_real, cond, coarse, mask)``, ``x0_real`` the recorded mels in diffusion space
        ``[B, n_mels, T]`` with the conditioning aligned to them."""
        if self._real_generator is None:
            seed = int(self._cfg.get("seed", 0)) + 1000 * (self.global_rank if self._trainer else 0)
            self._real_generator = torch.Generator().manual_seed(seed)
        picks = torch.randint(0, len(self.recordings), (batch_size,), generator=self._real_generator).tolist()
        batch = {k: v.to(device) for k, v in collate_recordings([self.recordings[i] for i in picks]).items()}
        return self._window(batch, None, mel_key="real_mel")

    def _logits(self, x, cond, coarse, mask) -> torch.Tensor:
        log_snr = self._levels("adversarial_t_range", x.shape[0], x)
        z = noise_data(x, log_snr, torch.randn_like(x)) * mask
        return self.discriminator(self.fake_decoder.features(z, log_snr, cond, coarse, mask), mask)

    def fake_loss(self, x, x0_teacher, cond, coarse, mask, adversarial=None) -> Dict[str, torch.Tensor]:
        """The fake denoiser's denoising loss on the generator's samples ``x`` (detached), plus the discriminator's:
        fake ``x``, real the teacher's samples ``x0_teacher``, on the shards' conditioning; or, ``adversarial`` =
        ``(x_fake, x_real, cond, coarse, mask)`` (``dmd.adversarial_real: recordings``), fake the generator's samples
        ``x_fake`` on the recordings' conditioning, real the recordings ``x_real``."""
        x = x.detach()
        settings = self.teacher_decoder.settings
        log_snr = self._levels("fake_t_range", x.shape[0], x)
        logits = None
        if self.discriminator is not None:
            fake, real, *on = adversarial if adversarial is not None else (x, x0_teacher, cond, coarse, mask)
            logits = (self._logits(fake.detach(), *on), self._logits(real, *on))
        return dmd_fake_losses(x, self.x0_function(self.fake_decoder, cond, coarse, mask), log_snr,
                               weighting=self.dmd["fake_weighting"] or settings.weighting,
                               weighting_gamma=settings.weighting_gamma, mask=mask, logits=logits,
                               discriminator_weight=float(self.dmd["discriminator_weight"]))

    def generator_loss(self, x, x0_teacher, cond, coarse, mask, paired_noise, adversarial=None
                       ) -> Dict[str, torch.Tensor]:
        """The generator's loss for its samples ``x`` (with gradients) ``[B, n_mels, T]``; see the module docstring.
        ``adversarial`` = ``(x_fake, cond, coarse, mask)``: the GAN term on the generator's samples (with gradients)
        on the recordings' conditioning (``dmd.adversarial_real: recordings``; default: ``x``)."""
        log_snr = self._levels("t_range", x.shape[0], x)
        real = self.x0_function(self.teacher_decoder, cond, coarse, mask,
                                guidance_scale=float(self.dmd["guidance_scale"]))
        paired = None
        if float(self.dmd["regression_weight"]) > 0:  # DMD's paired loss: the teacher's sample of the same noise
            paired = (self.generate(cond, coarse, mask, paired_noise, step=self.student_steps - 1, grad=True),
                      x0_teacher)
        fake_logits = None
        if self.discriminator is not None:
            fake_logits = self._logits(*(adversarial if adversarial is not None else (x, cond, coarse, mask)))
        return dmd_generator_losses(x, real, self.x0_function(self.fake_decoder, cond, coarse, mask), log_snr, mask,
                                    paired=paired, regression_weight=float(self.dmd["regression_weight"]),
                                    fake_logits=fake_logits, adversarial_weight=float(self.dmd["adversarial_weight"]))

    @property
    def generator_turn(self) -> bool:
        """Every ``fake_updates + 1``-th optimizer step is the generator's."""
        return dmd_generator_turn(self.global_step, int(self.dmd["fake_updates"]))

    def training_step(self, batch, batch_idx):
        generator_optimizer, fake_optimizer = self.optimizers()
        # the utterances' own noise is drawn only for the paired regression loss (every step's hot path otherwise)
        paired = [self.utterance_noise(batch)] if float(self.dmd["regression_weight"]) > 0 else []
        x0_teacher, cond, coarse, mask, *paired = self._window(batch, None, *paired)
        paired_noise = paired[0] if paired else None
        fresh_noise = torch.randn_like(x0_teacher)
        turn = self.generator_turn
        real = None
        if self.recordings is not None:  # the GAN's sides on the recordings' own conditioning
            x_real, real_cond, real_coarse, real_mask = self.real_window(x0_teacher.shape[0], x0_teacher.device)
            x_fake = self.generate(real_cond, real_coarse, real_mask, torch.randn_like(x_real), grad=turn)
            real = (x_fake, real_cond, real_coarse, real_mask) if turn else (
                x_fake, x_real, real_cond, real_coarse, real_mask)
        if turn:
            x = self.generate(cond, coarse, mask, fresh_noise, grad=True)
            losses = self.generator_loss(x, x0_teacher, cond, coarse, mask, paired_noise, adversarial=real)
            optimizer = generator_optimizer
        else:
            x = self.generate(cond, coarse, mask, fresh_noise)
            losses = self.fake_loss(x, x0_teacher, cond, coarse, mask, adversarial=real)
            optimizer = fake_optimizer
        if self.stop_if_nonfinite(losses["loss"]):
            return None
        self.decoder.zero_grad(set_to_none=True)
        self.fake_decoder.zero_grad(set_to_none=True)
        if self.discriminator is not None:
            self.discriminator.zero_grad(set_to_none=True)
        self.manual_backward(losses["loss"])
        self.clip_gradients(optimizer, gradient_clip_val=float(self.dmd["max_grad_norm"]),
                            gradient_clip_algorithm="norm")
        optimizer.step()
        size = batch["lengths"].shape[0]
        for name, value in losses.items():
            if name != "loss":
                self.log(name, value.detach(), prog_bar=name in ("dmd_loss", "fake_loss"), batch_size=size)
        return losses["loss"].detach()

    # ------------------------------------------------------------------------------------------------ output
    def save_student(self, path: str, lineage: Optional[Dict] = None) -> str:
        """The generator as a ``DiffusionSpectrogramGenerator`` ``.nemo``: ``default_steps: dmd.steps``, the
        generator's temperature, lineage (every loss weight and noise range, ``lineage``)."""
        dmd = {f"dmd_{key}": value for key, value in self.dmd.items()}
        if self.recordings is not None:  # which recordings the GAN learnt from
            generation, root = self.recordings.generation, self._cfg.real_data
            dmd.update(recordings_manifest=generation["recordings_manifest"],
                       recordings_manifest_sha256=generation["recordings_manifest_sha256"], real_data=root,
                       real_data_sha256=RecordingShardStore(root).manifest_sha256())
        return super().save_student(path, {
            "steps": int(self.student_steps), "generator_init": self._cfg.get("generator_path")
            or "teacher", **dmd, **(lineage or {})}, {"temperature": self.temperature})
