"""ClassifierGuidedGenerator: a frozen noise-conditioned classifier reused as a class-conditional generator's backbone.

The backbone is a trained :class:`~nemo_distill.models.noisy_classifier.NoisyClassifierModel` (its classifier
network, frozen, kept in this model's checkpoint). A light :class:`~nemo_distill.modules.tap_score_net.TapScoreNet`
reads the backbone's stage outputs ("taps") for ``z_t`` and predicts the noise ``eps``; only it is trained, by
denoising score matching (``|eps_pred - eps|^2``: DSM ``|s + eps / sigma|^2`` with the weighting ``sigma^2``).

Sampling runs the backbone once per step: its taps feed the score network (the unconditional score ``-eps / sigma``)
and its logits give the class guidance ``grad_z log p(y | z_t)`` by one backward pass (Dhariwal & Nichol):
``eps_guided = eps - guidance_scale * sigma * grad``. A two-model system needs a score network and a classifier
forward (and the classifier's backward) per step.
"""

import copy
from typing import List, Optional, Sequence, Union

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.classes import ModelPT
from nemo.core.classes.common import safe_instantiate
from nemo_distill.diffusion import alpha_sigma, classifier_guidance, noise_data, sample
from nemo_distill.models.diffusion_settings import schedule_from_config
from nemo_distill.models.labelled_audio import MEL_KEYS, LogMelSpace, label_loader, mel_settings_mismatch

__all__ = ["ClassifierGuidedGenerator"]


def _backbone_section(path: str, generator_mel: Optional[DictConfig]) -> tuple:
    """Restore the classifier ``.nemo`` at ``path`` -> (config section for this model, its classifier weights)."""
    from nemo_distill.models.noisy_classifier import NoisyClassifierModel

    source = ModelPT.restore_from(path, map_location="cpu")
    if not isinstance(source, NoisyClassifierModel):
        raise TypeError(f"backbone_path {path} holds a {type(source).__name__}, not a NoisyClassifierModel")
    theirs = source.mel_settings
    if generator_mel is not None:
        ours = {key: generator_mel.get(key) for key in MEL_KEYS}
        ours["preprocessor"] = (OmegaConf.to_container(generator_mel.preprocessor)
                                if generator_mel.get("preprocessor") is not None else theirs["preprocessor"])
        differing = mel_settings_mismatch(ours, theirs)
        if differing:
            raise ValueError(f"the classifier {path} and this generator compute different mels: " + "; ".join(
                f"{key}: generator {a}, classifier {b}" for key, (a, b) in differing.items()))
    section = OmegaConf.create({
        "labels": list(source.labels), **{key: theirs[key] for key in MEL_KEYS},
        "preprocessor": theirs["preprocessor"], "classifier": OmegaConf.to_container(source.cfg.classifier),
        "source": str(path)})
    return section, source.classifier.state_dict()


class ClassifierGuidedGenerator(ModelPT):
    """Config: ``backbone_path`` (a ``NoisyClassifierModel`` ``.nemo``, read once: its network and mel settings are
    copied into ``backbone``), ``mel`` (optional: ``sample_rate``/``n_mels``/``frames``/``mel_mean``/``mel_scale``
    the backbone must have), ``score_net`` (``_target_`` of a ``TapScoreNet``; ``n_mels`` and ``tap_channels`` are
    taken from the backbone), ``diffusion`` (``schedule``, ``default_steps``, ``sampler``), ``train_ds``,
    ``validation_ds``, ``optim``."""

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        backbone_weights = None
        if cfg.get("backbone") is None:
            if not cfg.get("backbone_path"):
                raise ValueError("ClassifierGuidedGenerator needs backbone_path: a NoisyClassifierModel .nemo "
                                 "(scripts/train_classifier.py)")
            cfg = copy.deepcopy(cfg)
            section, backbone_weights = _backbone_section(cfg.backbone_path, cfg.get("mel"))
            with open_dict(cfg):
                cfg.backbone = section
        super().__init__(cfg=cfg, trainer=trainer)
        backbone = self._cfg.backbone
        self.mel = LogMelSpace(backbone.preprocessor, backbone.frames, backbone.mel_mean, backbone.mel_scale)
        self.backbone = safe_instantiate(backbone.classifier)
        if backbone_weights is not None:
            self.backbone.load_state_dict(backbone_weights)
        self.backbone.requires_grad_(False).eval()
        score_cfg = copy.deepcopy(self._cfg.score_net)
        with open_dict(score_cfg):
            score_cfg.n_mels = int(self.backbone.n_mels)
            score_cfg.tap_channels = list(self.backbone.channels)
        self.score_net = safe_instantiate(score_cfg)
        self.schedule = schedule_from_config(self._cfg.diffusion.schedule)

    @property
    def labels(self) -> List[str]:
        return list(self._cfg.backbone.labels)

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # frozen: never in training mode (no dropout/normalisation statistics change)
        return self

    # ------------------------------------------------------------------------------------------------ the score
    def _backbone_pass(self, z_t: torch.Tensor, log_snr: torch.Tensor, labels: Optional[torch.Tensor] = None):
        """One backbone forward for ``z_t``: ``(taps, lse_grad, class_grad)`` where ``lse_grad`` is
        ``grad_z logsumexp(logits)`` if the score network reads it and ``class_grad`` is ``grad_z log p(labels | z_t)``
        if ``labels`` are given (else None); gradients are taken only when one of them is needed."""
        needs_lse = self.score_net.use_logsumexp_grad
        if not needs_lse and labels is None:
            with torch.no_grad():
                return self.backbone.forward_with_taps(z_t, log_snr)[1], None, None
        with torch.enable_grad():
            z = z_t.detach().requires_grad_(True)
            logits, taps = self.backbone.forward_with_taps(z, log_snr)
            objectives = {}
            if needs_lse:
                objectives["lse"] = logits.logsumexp(-1).sum()
            if labels is not None:
                objectives["class"] = torch.log_softmax(logits, dim=-1).gather(1, labels[:, None]).sum()
            grads = {}
            for i, (name, objective) in enumerate(objectives.items()):
                grads[name] = torch.autograd.grad(objective, z, retain_graph=i < len(objectives) - 1)[0]
        return [tap.detach() for tap in taps], grads.get("lse"), grads.get("class")

    def predict_eps(self, z_t: torch.Tensor, log_snr: torch.Tensor) -> torch.Tensor:
        """The unconditional noise prediction ``[B, n_mels, frames]`` (backbone taps -> score network)."""
        taps, lse_grad, _ = self._backbone_pass(z_t, log_snr)
        return self.score_net(z_t, log_snr, taps, lse_grad)

    def guided_eps(self, z_t: torch.Tensor, log_snr: torch.Tensor, labels: torch.Tensor,
                   guidance_scale: float) -> torch.Tensor:
        """``eps - guidance_scale * sigma * grad_z log p(labels | z_t)`` with one backbone forward: its taps feed
        the score network, its logits the guidance gradient."""
        taps, lse_grad, class_grad = self._backbone_pass(z_t, log_snr, labels)
        with torch.no_grad():
            eps = self.score_net(z_t, log_snr, taps, lse_grad)
        return classifier_guidance(eps, log_snr, class_grad, guidance_scale)

    # ------------------------------------------------------------------------------------------------- training
    def dsm_loss(self, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Denoising score matching on clean ``x0`` ``[B, n_mels, frames]`` at uniformly drawn times."""
        t = torch.rand(x0.shape[0], generator=generator, device=x0.device, dtype=torch.float64)
        log_snr = self.schedule(t).to(x0.dtype)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        z_t = noise_data(x0, log_snr, eps)
        return torch.mean((self.predict_eps(z_t, log_snr) - eps) ** 2)

    def training_step(self, batch, batch_idx):
        audio, audio_lens, _, _ = batch
        loss = self.dsm_loss(self.mel(audio, audio_lens))
        self.log("train_dsm_loss", loss, prog_bar=True, batch_size=audio.shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        audio, audio_lens, _, _ = batch
        generator = torch.Generator(device=audio.device).manual_seed(1000 + batch_idx)
        loss = self.dsm_loss(self.mel(audio, audio_lens), generator)
        self.log("val_dsm_loss", loss, prog_bar=True, batch_size=audio.shape[0], sync_dist=True)
        return loss

    # ------------------------------------------------------------------------------------------------- sampling
    def _label_ids(self, labels: Sequence[Union[int, str]]) -> torch.Tensor:
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

    @torch.no_grad()
    def generate(self, labels: Optional[Sequence[Union[int, str]]] = None, num_samples: Optional[int] = None,
                 steps: Optional[int] = None, guidance_scale: float = 0.0, sampler: Optional[str] = None,
                 seed: Optional[int] = 0) -> torch.Tensor:
        """Log-mels ``[B, n_mels, frames]``: one per entry of ``labels`` (ids or names), guided toward that class
        with ``guidance_scale``; or ``labels=None`` and ``num_samples`` unconditional ones (no guidance)."""
        if labels is None:
            if guidance_scale != 0:
                raise ValueError("guidance_scale > 0 needs labels: class guidance steers toward given classes")
            if not num_samples or num_samples < 1:
                raise ValueError("unconditional sampling (labels=None) needs num_samples >= 1")
            label_ids = None
            batch = int(num_samples)
        else:
            label_ids = self._label_ids(labels)
            if label_ids.numel() == 0:
                raise ValueError("labels is empty")
            batch = label_ids.numel()
        diffusion = self._cfg.diffusion
        generator = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        shape = (batch, int(self.backbone.n_mels), int(self._cfg.backbone.frames))
        noise = torch.randn(shape, generator=generator, device=self.device)

        clip = diffusion.get("clip_x0")

        def model_fn(z_t, log_snr):
            if label_ids is None or guidance_scale == 0:
                eps = self.predict_eps(z_t, log_snr)
            else:
                eps = self.guided_eps(z_t, log_snr, label_ids, guidance_scale)
            # x0 = (z - sigma eps) / alpha amplifies eps errors by 1 / alpha (~1800 at log-SNR -15): clip it to the
            # data range, as DDPM/ADM's clip_denoised does
            alpha, sigma = (a[:, None, None] for a in alpha_sigma(log_snr))
            x0 = (z_t - sigma * eps) / alpha
            return x0.clamp(-float(clip), float(clip)) if clip else x0

        x0 = sample(model_fn, noise, int(steps or diffusion.default_steps), schedule=self.schedule,
                    parameterization="x0", sampler=sampler or diffusion.sampler, generator=generator)
        return self.mel.log_mel(x0)

    # ---------------------------------------------------------------------------------------------------- data
    def _loader(self, cfg: DictConfig, shuffle_default: bool):
        return label_loader(cfg, self._cfg.backbone.labels, self._cfg.backbone.sample_rate, shuffle_default)

    def setup_training_data(self, train_data_config):
        self._train_dl = self._loader(train_data_config, shuffle_default=True)

    def setup_validation_data(self, val_data_config):
        self._validation_dl = self._loader(val_data_config, shuffle_default=False)

    @classmethod
    def list_available_models(cls):
        return None
