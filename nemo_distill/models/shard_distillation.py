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

"""ShardDistillationModel: what every distillation of a diffusion voice on the teacher's synthetic shards shares.

A frozen ``teacher_decoder`` (the :class:`~nemo_distill.modules.mel_decoder.DiffusionMelDecoder` of the
``teacher_path`` ``.nemo``, left out of checkpoints), a trainable student ``decoder``, loaders over a complete shard
store (:mod:`nemo_distill.data.synthetic_shards`: FastPitch's conditioning and the teacher's samples, no recordings),
the validation that compares the student's ``student_steps``-step samples with the teacher's from the same noise,
the stop on a non-finite loss, and :meth:`save_student`, which writes the student as a
``DiffusionSpectrogramGenerator`` ``.nemo``. :class:`DecoderDistillationModel` adds one optimizer over the student's
decoder and one loss per step (progressive rounds, guidance folding, layer and consistency distillation);
:class:`~nemo_distill.models.distribution_matching_distillation.DistributionMatchingDistillation` trains two networks.

A method's own config section (e.g. ``consistency``) is read by its class:
:meth:`ShardDistillationModel.check_section`, :meth:`~ShardDistillationModel.round_config` and
:meth:`~ShardDistillationModel.round_optimizer_steps` are what the round runner
(:mod:`nemo_distill.distillation.rounds`, through the registry :mod:`nemo_distill.distillation.methods`) asks of it.
"""

import copy
from typing import Dict, Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.classes import ModelPT
from nemo.utils import logging
from nemo_distill.data.synthetic_shards import SyntheticUtterances, collate, seeded_noise
from nemo_distill.diffusion import SamplingOptions, frame_mask
from nemo_distill.models.diffusion_spectrogram_generator import DiffusionSpectrogramGenerator
from nemo_distill.parts.tensorboard import log_mels_and_audio
from nemo_distill.utils.files import atomic_path

__all__ = ["DecoderDistillationModel", "ShardDistillationModel"]

_TEACHER = "teacher_decoder."


class ShardDistillationModel(ModelPT):
    """Base of the distillation models. Config keys it reads: ``teacher_path``, ``synthetic_data``,
    ``val_utterances``, ``max_frames``, ``train_ds``/``validation_ds`` (``batch_size``, ``num_workers``).
    Subclasses set ``student_steps`` and implement ``training_step``."""

    student_steps: int = 1

    # ------------------------------------------------------------------ what the round runner asks of a method
    @classmethod
    def check_section(cls, section, plan_has_ladder: bool = True) -> None:
        """The method's config section (a DictConfig or None), before any work: ValueError naming the bad key."""

    @classmethod
    def check_against_teacher(cls, section, teacher_decoder) -> None:
        """The section against the teacher's decoder (e.g. its number of blocks), before any work."""

    @classmethod
    def benchmark_row_of(cls, row: str, lineage) -> str:
        """The benchmark row of a student with this ``lineage`` (its ``distillation`` section): ``row``, the
        method's, unless a setting recorded there makes it another kind of student."""
        return row

    @classmethod
    def needs_recordings(cls, section) -> bool:
        """Whether a round with this section reads a real-data store (recordings with their aligned conditioning,
        ``model.real_data``) beside the synthetic shards."""
        return False

    @classmethod
    def round_config(cls, section, model_cfg: DictConfig, previous_student: Optional[str]) -> Dict:
        """Keys the round runner sets in this method's model config beyond its section (which the runner copies in
        under the method's name); ``previous_student``: the ladder's last student, None on the teacher."""
        return {}

    @classmethod
    def round_optimizer_steps(cls, section, round_steps: int) -> int:
        """The trainer's ``max_steps`` of a round of this method: the section's ``round_steps``, else
        ``model.round_steps``."""
        return int((section or {}).get("round_steps") or round_steps)

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None,
                 teacher: Optional[DiffusionSpectrogramGenerator] = None):
        if cfg.get("stage") is not None:  # the one model that held every method read its method from this key
            logging.warning(f"{type(self).__name__}: config key stage={cfg.stage!r} is ignored: each distillation "
                            "method is its own class (nemo_distill.distillation.methods.METHODS)")
        # the teacher is loaded (and so checked) before the data: a wrong file fails fast
        teacher = teacher if teacher is not None else DiffusionSpectrogramGenerator.from_nemo(cfg.teacher_path)
        super().__init__(cfg=cfg, trainer=trainer)
        self.teacher_decoder = teacher.decoder.requires_grad_(False).eval()
        self.decoder = copy.deepcopy(teacher.decoder).requires_grad_(True)  # the student's
        self.teacher_cfg = copy.deepcopy(teacher.cfg)
        self._register_state_dict_hook(_drop_teacher)
        self._register_load_state_dict_pre_hook(self._fill_teacher)
        self._check_data_matches()
        self._naive_val_l1 = None
        self.nonfinite_loss_step: Optional[int] = None

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
        expected = {"n_mels": int(self.teacher_cfg.n_mel_channels),
                    "cond_channels": self.teacher_decoder.cond_channels}
        found = {key: generation.get(key) for key in expected}
        if found != expected:
            raise ValueError(f"the synthetic data {self._cfg.synthetic_data} were made for {found}, the teacher "
                             f"{self._cfg.teacher_path} has {expected}: regenerate them with this teacher")

    def stop_if_nonfinite(self, loss: torch.Tensor) -> bool:
        """True (and the trainer told to stop, :attr:`nonfinite_loss_step` set) when ``loss`` is not finite: the
        weights of the last good step are kept and the round runner writes no student."""
        if torch.isfinite(loss):
            return False
        logging.error(f"non-finite {type(self).__name__} loss at step {self.global_step}: stopping; the weights of "
                      "the last good step are kept. Lower model.optim.lr.")
        self.nonfinite_loss_step = int(self.global_step)
        self.trainer.should_stop = True
        return True

    def loss_settings(self) -> Dict:
        """The keywords every loss of :mod:`nemo_distill.diffusion.distillation_losses` takes from this round: the
        loss weighting and the training states' noise temperature and start."""
        settings = self.decoder.settings
        return {"weighting": str(self._cfg.weighting), "weighting_gamma": float(self._cfg.get("weighting_gamma", 5.0)),
                "temperature": float(settings.temperature), "t_start": float(settings.t_start)}

    @staticmethod
    def x0_function(decoder, cond, coarse, mask, **kwargs):
        """``decoder``'s x0-function ``(z_t, log_snr) -> x0`` ``[B, n_mels, T]`` on this conditioning (``kwargs``:
        ``guidance_scale``, ``layer_budget``)."""
        return lambda z_t, log_snr: decoder.x0_prediction(z_t, log_snr, cond, coarse, mask, **kwargs)

    @property
    def sampling_layer_budget(self) -> Optional[int]:
        """The residual blocks the student samples with in validation (None: its decoder's default)."""
        return None

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

    def _window(self, batch: Dict[str, torch.Tensor], generator: Optional[torch.Generator] = None, *extra,
                mel_key: str = "teacher_mel"):
        """A random window of at most ``max_frames`` frames: ``(x0, cond, coarse, mask, *extra)``, ``x0`` the
        batch's ``mel_key`` mel (the teacher's sample) in diffusion space; ``extra`` tensors ``[B, C, T]`` are cut to
        the same window."""
        decoder = self.decoder
        mel, coarse, cond, *extra, lengths = decoder.random_window(
            batch[mel_key], batch["coarse_mel"], batch["cond"], *extra, lengths=batch["lengths"],
            max_frames=self._cfg.get("max_frames") or batch[mel_key].shape[-1], generator=generator)
        mask = frame_mask(lengths, mel.shape[-1])
        return (decoder.x0_from_mel(mel, coarse) * mask, cond * mask, coarse, mask, *extra)

    @staticmethod
    def utterance_noise(batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        """The noise ``[B, n_mels, T]`` each utterance's teacher sample was drawn from (its shard seed)."""
        coarse = batch["coarse_mel"]
        return seeded_noise(batch["seeds"].tolist(), batch["lengths"], coarse.shape[1], coarse)

    # ------------------------------------------------------------------------------------------- validation
    @torch.no_grad()
    def _sample(self, decoder, batch, steps: int) -> torch.Tensor:
        """``steps`` DDIM steps from the utterances' own noise (at :attr:`sampling_layer_budget`)."""
        options = SamplingOptions(steps=steps, sampler="ddim", noise=self.utterance_noise(batch),
                                  layer_budget=self.sampling_layer_budget)
        return decoder.decode(batch["cond"], batch["coarse_mel"], batch["lengths"], options)

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
    def save_student(self, path: str, distillation: Dict, diffusion: Optional[Dict] = None) -> str:
        """Write the student as a ``DiffusionSpectrogramGenerator`` ``.nemo`` (atomically, never over a finished
        one): the teacher's front-end with the trained decoder, DDIM at ``student_steps`` by default, ``diffusion``
        keys overriding the teacher's, ``distillation`` = the student's lineage."""
        student = DiffusionSpectrogramGenerator.from_nemo(self._cfg.teacher_path)
        student.decoder.load_state_dict({k: v.cpu() for k, v in self.decoder.state_dict().items()})
        cfg = copy.deepcopy(student.cfg)
        with open_dict(cfg):
            cfg.diffusion.default_steps = int(self.student_steps)
            cfg.diffusion.sampler = "ddim"
            for key, value in (diffusion or {}).items():
                cfg.diffusion[key] = value
            cfg.distillation = OmegaConf.create(distillation)
        student.cfg = cfg
        with atomic_path(path, overwrite=False) as tmp:
            student.save_to(tmp)
        return path

    @classmethod
    def list_available_models(cls):
        return None


class DecoderDistillationModel(ShardDistillationModel):
    """A method with one loss per step and one optimizer over the student's decoder: subclasses implement
    :meth:`distillation_loss` (a scalar) and :meth:`lineage` (what the student's ``distillation`` section records)."""

    def setup_optimizer_param_groups(self):
        self._optimizer_param_groups = [{"params": list(self.decoder.parameters())}]  # the student's decoder only

    def distillation_loss(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def lineage(self) -> Dict:
        """The method's settings recorded in its student (beyond the round runner's lineage)."""
        return {"teacher_steps": int(self._cfg.teacher_steps), "steps": int(self.student_steps),
                "weighting": str(self._cfg.weighting), "guidance_scale_folded": 0.0}

    def student_diffusion_settings(self) -> Dict:
        """``diffusion`` config keys of the student that differ from the teacher's (beyond steps and sampler)."""
        return {}

    def training_step(self, batch, batch_idx):
        loss = self.distillation_loss(batch)
        if self.stop_if_nonfinite(loss):
            return None
        self.log("distill_loss", loss, prog_bar=True, batch_size=batch["lengths"].shape[0])
        return loss

    def save_student(self, path: str, lineage: Optional[Dict] = None) -> str:
        """Write the student as a ``DiffusionSpectrogramGenerator`` ``.nemo`` (atomically, never over a finished one):
        default steps = the student's, ``distillation`` = :meth:`lineage` + ``lineage``."""
        return super().save_student(path, {**self.lineage(), **(lineage or {})}, self.student_diffusion_settings())


def _drop_teacher(module, state_dict, prefix, local_metadata):
    """State-dict hook: the frozen teacher is ``teacher_path``'s, not part of a round's checkpoint."""
    for key in [k for k in state_dict if k.startswith(prefix + _TEACHER)]:
        del state_dict[key]
    return state_dict
