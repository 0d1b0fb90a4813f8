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

"""Class-guided diffusion of 1-s log-mels with a frozen noise-conditioned classifier: what the single-backbone
generator and the two-model baseline share.

Both diffuse the classifier's normalised log-mel ``x0`` ``[B, n_mels, frames]``, train only their score network by
denoising score matching and sample with class guidance from the frozen classifier (Dhariwal & Nichol):
``eps - guidance_scale * sigma * grad_z log p(y | z_t)``. The score network predicts what
``diffusion.parameterization`` names (``diffusion.prediction`` in configs written before: still read, with a
deprecation warning): ``eps`` (loss ``|eps_pred - eps|^2``: DSM ``|s + eps / sigma|^2`` weighted by ``sigma^2``, which weights the
x0 error by the SNR and so almost ignores the noisiest levels) or ``v`` (loss ``|v_pred - v|^2``: the x0 error
weighted by SNR + 1, at least 1 at every level; the score is the same, ``eps = sigma * z_t + alpha * v``). They
differ in where the prediction comes from (:meth:`predict`): taps of the classifier itself
(:class:`~nemo_distill.models.classifier_guided_generator.ClassifierGuidedGenerator`) or a separate U-Net
(:class:`~nemo_distill.models.two_model_guided_generator.TwoModelGuidedGenerator`).

The classifier is read once from a ``NoisyClassifierModel`` ``.nemo`` (config ``<classifier_key>_path``): its
network and mel settings are copied into the config section ``<classifier_key>`` and its weights into this model's
checkpoint, so the saved ``.nemo`` restores without the classifier file.
"""

import copy
import warnings
from typing import Dict, List, Optional, Sequence, Union

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.classes import ModelPT
from nemo.core.classes.common import safe_instantiate
from nemo_distill.data.labelled_audio import CLIP_MEL_KEYS, clip_mel_mismatch, label_loader
from nemo_distill.diffusion import classifier_guided_x0, noise_data, sample
from nemo_distill.diffusion.parameterization import broadcast_to, prediction_to_x0_eps, target_from_x0_eps
from nemo_distill.diffusion.settings import schedule_from_config
from nemo_distill.modules.log_mel_space import LogMelSpace
from nemo_distill.parts.nemo_integrity import RecordsIntegrity
from nemo_distill.parts.restore import restore_model

__all__ = ["GuidedMelDiffusion"]


def _classifier_section(path: str, generator_mel: Optional[DictConfig]) -> tuple:
    """Restore the classifier ``.nemo`` at ``path`` -> (config section for the generator, its classifier weights)."""
    from nemo_distill.models.noisy_classifier import NoisyClassifierModel

    source = restore_model(path, NoisyClassifierModel)
    theirs = source.mel_settings
    if generator_mel is not None:
        ours = {key: generator_mel.get(key) for key in CLIP_MEL_KEYS}
        ours["preprocessor"] = (OmegaConf.to_container(generator_mel.preprocessor)
                                if generator_mel.get("preprocessor") is not None else theirs["preprocessor"])
        differing = clip_mel_mismatch(ours, theirs)
        if differing:
            raise ValueError(f"the classifier {path} and this generator compute different mels: " + "; ".join(
                f"{key}: generator {a}, classifier {b}" for key, (a, b) in differing.items()))
    section = OmegaConf.create({
        "labels": list(source.labels), **{key: theirs[key] for key in CLIP_MEL_KEYS},
        "preprocessor": theirs["preprocessor"], "classifier": OmegaConf.to_container(source.cfg.classifier),
        "source": str(path)})
    return section, source.classifier.state_dict()


class GuidedMelDiffusion(RecordsIntegrity, ModelPT):
    """Config: ``<classifier_key>_path`` (a ``NoisyClassifierModel`` ``.nemo``), ``mel`` (optional:
    ``sample_rate``/``n_mels``/``frames``/``mel_mean``/``mel_scale``/``preprocessor`` the classifier must have),
    ``score_net`` (``_target_``; the subclass fills in what it takes from the classifier), ``diffusion``
    (``schedule``, ``parameterization``: ``eps`` (default) or ``v``, ``default_steps``, ``sampler``, ``clip_x0``),
    ``train_ds``, ``validation_ds``, ``optim``. Subclasses set ``classifier_key`` and implement
    :meth:`_score_net_config` and :meth:`predict`."""

    parameterizations = ("eps", "v")

    classifier_key = "classifier"

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        key = self.classifier_key
        classifier_weights = None
        if cfg.get(key) is None:
            if not cfg.get(f"{key}_path"):
                raise ValueError(f"{type(self).__name__} needs {key}_path: a NoisyClassifierModel .nemo "
                                 "(scripts/train_classifier.py)")
            cfg = copy.deepcopy(cfg)
            section, classifier_weights = _classifier_section(cfg[f"{key}_path"], cfg.get("mel"))
            with open_dict(cfg):
                cfg[key] = section
        super().__init__(cfg=cfg, trainer=trainer)
        section = self._cfg[key]
        self.mel = LogMelSpace(section.preprocessor, section.frames, section.mel_mean, section.mel_scale)
        classifier = safe_instantiate(section.classifier)
        if classifier_weights is not None:
            classifier.load_state_dict(classifier_weights)
        self.add_module(key, classifier.requires_grad_(False).eval())
        self.score_net = safe_instantiate(self._score_net_config(copy.deepcopy(self._cfg.score_net)))
        self.schedule = schedule_from_config(self._cfg.diffusion.schedule)
        self.parameterization = _parameterization(self._cfg.diffusion)
        if self.parameterization not in self.parameterizations:
            key = "prediction" if self._cfg.diffusion.get("prediction") is not None else "parameterization"
            raise ValueError(f"diffusion.{key} must be one of {list(self.parameterizations)}, got "
                             f"{self.parameterization!r}")

    @property
    def frozen_classifier(self) -> torch.nn.Module:
        """The frozen noise-conditioned classifier (``(z_t, log_snr) -> logits``, ``forward_with_taps``)."""
        return getattr(self, self.classifier_key)

    @property
    def mel_section(self) -> DictConfig:
        """The classifier's mel settings and labels (the config section copied from its ``.nemo``)."""
        return self._cfg[self.classifier_key]

    @property
    def mel_settings(self) -> Dict:
        """The mel settings it shares with its classifier, as ``NoisyClassifierModel.mel_settings``."""
        section = self.mel_section
        return {**{key: section[key] for key in CLIP_MEL_KEYS}, "preprocessor": dict(section.preprocessor)}

    @property
    def labels(self) -> List[str]:
        return list(self.mel_section.labels)

    def train(self, mode: bool = True):
        super().train(mode)
        self.frozen_classifier.eval()  # frozen: never in training mode
        return self

    # ------------------------------------------------------------------------------------- what subclasses define
    def _score_net_config(self, score_cfg: DictConfig) -> DictConfig:
        """``score_net`` config completed with what the score network takes from the classifier."""
        raise NotImplementedError

    def predict(self, z_t: torch.Tensor, log_snr: torch.Tensor, labels: Optional[torch.Tensor] = None):
        """``(prediction, class_grad)``: the score network's output ``[B, n_mels, frames]`` in the
        ``diffusion.parameterization`` and, when ``labels`` are given, the frozen classifier's
        ``grad_z log p(labels | z_t)`` (else None). Gradients flow into the score network only without labels."""
        raise NotImplementedError

    def predict_eps(self, z_t: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        """The unconditional noise prediction ``[B, n_mels, frames]``."""
        return prediction_to_x0_eps(self.predict(z_t, log_snr)[0], z_t, log_snr, self.parameterization)[1]

    # ---------------------------------------------------------------------------------------- classifier pass
    def classifier_pass(self, z_t: torch.Tensor, log_snr: torch.Tensor, labels: Optional[torch.Tensor] = None,
                        logsumexp_grad: bool = False):
        """One forward of the frozen classifier for ``z_t``: ``(taps, lse_grad, class_grad)`` where ``lse_grad`` is
        ``grad_z logsumexp(logits)`` if ``logsumexp_grad`` and ``class_grad`` is ``grad_z log p(labels | z_t)`` if
        ``labels`` are given (else None); the backward pass runs only when one of them is asked for."""
        if not logsumexp_grad and labels is None:
            with torch.no_grad():
                return self.frozen_classifier.forward_with_taps(z_t, log_snr)[1], None, None
        with torch.enable_grad():
            z = z_t.detach().requires_grad_(True)
            logits, taps = self.frozen_classifier.forward_with_taps(z, log_snr)
            objectives = {}
            if logsumexp_grad:
                objectives["lse"] = logits.logsumexp(-1).sum()
            if labels is not None:
                objectives["class"] = torch.log_softmax(logits, dim=-1).gather(1, labels[:, None]).sum()
            grads = {}
            for i, (name, objective) in enumerate(objectives.items()):
                grads[name] = torch.autograd.grad(objective, z, retain_graph=i < len(objectives) - 1)[0]
        return [tap.detach() for tap in taps], grads.get("lse"), grads.get("class")

    # ------------------------------------------------------------------------------------------------- training
    def denoising_loss(self, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Denoising score matching on clean ``x0`` ``[B, n_mels, frames]`` at uniformly drawn times, as the MSE of
        the score network's prediction (``eps``: the score-form DSM weighted by ``sigma^2``; ``v``: by
        ``sigma^2 (SNR + 1)``)."""
        t = torch.rand(x0.shape[0], generator=generator, device=x0.device, dtype=torch.float64)
        log_snr = self.schedule(t).to(x0.dtype)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        z_t = noise_data(x0, log_snr, eps)
        target = target_from_x0_eps(x0, eps, log_snr, self.parameterization)
        return torch.mean((self.predict(z_t, log_snr)[0] - target) ** 2)

    def training_step(self, batch, batch_idx):
        audio, audio_lens, _, _ = batch
        loss = self.denoising_loss(self.mel(audio, audio_lens))
        self.log("train_dsm_loss", loss, prog_bar=True, batch_size=audio.shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        audio, audio_lens, _, _ = batch
        generator = torch.Generator(device=audio.device).manual_seed(1000 + batch_idx)
        loss = self.denoising_loss(self.mel(audio, audio_lens), generator)
        self.log("val_dsm_loss", loss, prog_bar=True, batch_size=audio.shape[0], sync_dist=True)
        return loss

    # ------------------------------------------------------------------------------------------------- sampling
    def label_ids(self, labels: Sequence[Union[int, str]]) -> torch.Tensor:
        """Class ids ``[B]`` of ``labels`` (ids or names); ValueError naming any label outside the class set."""
        ids = []
        for label in labels:
            if isinstance(label, str) and label in self.labels:
                ids.append(self.labels.index(label))
            elif not isinstance(label, str) and 0 <= int(label) < len(self.labels) and int(label) == label:
                ids.append(int(label))
            else:
                raise ValueError(f"label {label!r} is not in the class set: ids 0-{len(self.labels) - 1} or names "
                                 f"{self.labels}")
        return torch.tensor(ids, device=self.device, dtype=torch.long)

    def denoiser(self, label_ids: Optional[torch.Tensor], guidance_scale: float,
                 guidance_interval: Optional[Sequence[float]] = None):
        """``(z_t, log_snr) -> x0`` for the sampler: guided when ``label_ids`` are given and the scale is not 0 (only
        at diffusion times inside ``guidance_interval`` ``(t_min, t_max)``, if given; see :meth:`generate`); x0
        clipped to ``diffusion.clip_x0``, as DDPM/ADM's clip_denoised does (``x0 = (z - sigma eps) / alpha``
        amplifies eps errors by ``1 / alpha``, ~1800 at log-SNR -15)."""
        clip = self._cfg.diffusion.get("clip_x0")
        inside = self._guidance_window(guidance_interval)

        def model_fn(z_t, log_snr):
            guided = label_ids is not None and guidance_scale != 0
            scale = inside(log_snr).to(z_t.dtype) * guidance_scale if guided else None  # [B]
            guided = guided and bool(scale.any())
            prediction, class_grad = self.predict(z_t, log_snr, label_ids if guided else None)
            x0, eps = prediction_to_x0_eps(prediction, z_t, log_snr, self.parameterization)
            if guided:  # the x0 the guided eps implies
                x0 = classifier_guided_x0(x0, eps, log_snr, broadcast_to(scale, z_t) * class_grad)
            return x0.clamp(-float(clip), float(clip)) if clip else x0

        return model_fn

    def _guidance_window(self, guidance_interval: Optional[Sequence[float]]):
        """``log_snr [B] -> bool [B]``: whether each step's diffusion time lies in ``guidance_interval``."""
        if guidance_interval is None:
            return lambda log_snr: torch.ones_like(log_snr, dtype=torch.bool)
        t_min, t_max = (float(t) for t in guidance_interval)
        if not 0.0 <= t_min < t_max <= 1.0:
            raise ValueError(f"guidance_interval must be (t_min, t_max) with 0 <= t_min < t_max <= 1 (diffusion "
                             f"times, 1 = pure noise), got {tuple(guidance_interval)}")
        bounds = self.schedule(torch.tensor([t_max, t_min], dtype=torch.float64))  # log-SNR falls as t rises
        low, high = float(bounds[0]), float(bounds[1])
        return lambda log_snr: (log_snr >= low - 1e-6) & (log_snr <= high + 1e-6)

    @torch.no_grad()
    def generate(self, labels: Optional[Sequence[Union[int, str]]] = None, num_samples: Optional[int] = None,
                 steps: Optional[int] = None, guidance_scale: float = 0.0, sampler: Optional[str] = None,
                 seed: Optional[int] = 0, guidance_interval: Optional[Sequence[float]] = None) -> torch.Tensor:
        """Log-mels ``[B, n_mels, frames]``: one per entry of ``labels`` (ids or names), guided toward that class
        with ``guidance_scale``; or ``labels=None`` and ``num_samples`` unconditional ones (no guidance).
        ``guidance_interval`` ``(t_min, t_max)`` guides only the steps at diffusion times in that interval (1 = pure
        noise; Kynkaanniemi et al. 2024, "Applying guidance in a limited interval"); default
        ``diffusion.guidance_interval``, or every step if that is null."""
        if labels is None:
            if guidance_scale != 0:
                raise ValueError("guidance_scale > 0 needs labels: class guidance steers toward given classes")
            if not num_samples or num_samples < 1:
                raise ValueError("unconditional sampling (labels=None) needs num_samples >= 1")
            label_ids, batch = None, int(num_samples)
        else:
            label_ids = self.label_ids(labels)
            if label_ids.numel() == 0:
                raise ValueError("labels is empty")
            batch = label_ids.numel()
        diffusion = self._cfg.diffusion
        generator = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        shape = (batch, int(self.frozen_classifier.n_mels), int(self.mel_section.frames))
        noise = torch.randn(shape, generator=generator, device=self.device)
        if guidance_interval is None:
            guidance_interval = diffusion.get("guidance_interval")
        model_fn = self.denoiser(label_ids, guidance_scale, guidance_interval)
        x0 = sample(model_fn, noise, int(steps or diffusion.default_steps),
                    schedule=self.schedule, parameterization="x0", sampler=sampler or diffusion.sampler,
                    generator=generator)
        return self.mel.log_mel(x0)

    # ---------------------------------------------------------------------------------------------------- data
    def _loader(self, cfg: DictConfig, shuffle_default: bool):
        return label_loader(cfg, self.mel_section.labels, self.mel_section.sample_rate, shuffle_default)

    def setup_training_data(self, train_data_config):
        self._train_dl = self._loader(train_data_config, shuffle_default=True)

    def setup_validation_data(self, val_data_config):
        self._validation_dl = self._loader(val_data_config, shuffle_default=False)

    @classmethod
    def list_available_models(cls):
        return None


def _parameterization(diffusion: DictConfig) -> str:
    """``diffusion.parameterization`` (the name every config of the package uses); ``diffusion.prediction``, its name
    in guided configs written before, is read with a deprecation warning."""
    if diffusion.get("prediction") is not None:
        if diffusion.get("parameterization") is not None and diffusion.parameterization != diffusion.prediction:
            raise ValueError(f"diffusion.prediction ({diffusion.prediction!r}) and diffusion.parameterization "
                             f"({diffusion.parameterization!r}) disagree: keep parameterization only")
        warnings.warn("diffusion.prediction is deprecated: it is diffusion.parameterization now (same values)",
                      DeprecationWarning, stacklevel=3)
        return str(diffusion.prediction)
    return str(diffusion.get("parameterization", "eps"))
