"""DiffusionSpectrogramGenerator: NeMo's FastPitch front-end with a diffusion mel decoder on top.

FastPitch (tokenizer, encoder, aligner, duration and pitch predictors, its regression decoder) is NeMo's own
``FastPitchModel``, inherited unchanged: its losses, data pipeline, ``parse`` and logging all still apply. On top, a
diffusion model generates the mel conditioned on the length-regulated encoding (the tensor FastPitch feeds its own
decoder) and on FastPitch's coarse mel used as a prior:

* ``prior: residual`` (default, Grad-TTS-style prior mean): the diffusion runs on ``(mel - coarse_mel) / residual_scale``,
  so it learns the detail FastPitch's regression smooths away; sampling returns ``coarse_mel + residual_scale * x0``.
  ``residual_scale: auto`` (default) estimates the residual's RMS from the training batches (a running average kept
  in the checkpoint), so ``x0`` has unit variance whatever FastPitch's error is: the v/eps parameterizations assume
  unit-variance data, and a residual of RMS 0.37 diffused as if it were 1 left the denoiser worse than predicting
  zero at mid noise levels (measured on the demo teacher).
* ``prior: none``: the diffusion runs on the normalised mel itself, ``(mel - mel_mean) / mel_scale``.

The number of sampling steps, the sampler and the classifier-free guidance scale are call-time arguments of
:meth:`generate_spectrogram`.
"""

import warnings
from typing import Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig

from nemo.collections.tts.models import FastPitchModel
from nemo.core.classes.common import safe_instantiate
from nemo.utils import logging
from nemo_distill.diffusion import alpha_sigma, cfg_model_fn, noise_data, sample, weighted_denoising_loss
from nemo_distill.models.diffusion_settings import DiffusionSettings
from nemo_distill.models.fastpitch_taps import FastPitchTaps

__all__ = ["DiffusionSpectrogramGenerator"]

PRIORS = ("residual", "none")


def _frame_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``[B, 1, T]`` boolean mask, True on valid frames."""
    return (torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None])[:, None, :]


class DiffusionSpectrogramGenerator(FastPitchModel):
    """A NeMo ``SpectrogramGenerator`` whose mel decoder is a diffusion model conditioned on FastPitch's encoding.

    Config: every key of NeMo's FastPitch config, plus ``diffusion``: ``denoiser`` (``_target_`` of a module taking
    ``(z_t, log_snr, cond, prior, mask)``), ``schedule`` (``name`` + arguments), ``parameterization``, ``weighting``,
    ``weighting_gamma``, ``prior``, ``residual_scale``, ``mel_mean``, ``mel_scale``, ``cond_dropout``,
    ``loss_weight``, ``max_frames``, ``default_steps``, ``sampler``; and ``frontend``: ``freeze`` (train the diffusion
    decoder only) and ``init_from`` (a FastPitch ``.nemo`` whose weights initialise the front-end).
    """

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        super().__init__(cfg=cfg, trainer=trainer)
        diffusion = self._cfg.diffusion
        self.settings = DiffusionSettings.from_config(diffusion)
        self.schedule, self.parameterization = self.settings.schedule, self.settings.parameterization
        if diffusion.prior not in PRIORS:
            raise ValueError(f"unknown diffusion prior {diffusion.prior!r}; valid options: {list(PRIORS)}")
        self.mel_denoiser = safe_instantiate(diffusion.denoiser)
        scale = diffusion.get("residual_scale", "auto")
        self.auto_residual_scale = scale in (None, "auto")
        # the scale x0 is divided by; saved with the weights (a student or a restored model uses its teacher's)
        self.register_buffer("residual_scale", torch.tensor(1.0 if self.auto_residual_scale else float(scale)))
        self._residual_scale_fresh = self.auto_residual_scale  # first estimate replaces the placeholder 1.0
        self._val_diffusion_losses = []
        self.nonfinite_loss_step: Optional[int] = None  # set when training stopped on a NaN/inf loss
        if self.mel_denoiser.n_mels != self._cfg.n_mel_channels:
            raise ValueError(
                f"diffusion.denoiser.n_mels ({self.mel_denoiser.n_mels}) must equal n_mel_channels "
                f"({self._cfg.n_mel_channels})"
            )
        frontend = self._cfg.get("frontend", {}) or {}
        # only when building a new model: a restored .nemo has these weights already, and the FastPitch file need
        # not exist where the .nemo is deployed
        if frontend.get("init_from") and not self._is_model_being_restored():
            self._init_frontend_from(frontend.init_from)
        self.frontend_frozen = bool(frontend.get("freeze", False))
        if self.frontend_frozen:
            for name, module in self.named_children():
                if name != "mel_denoiser":
                    module.requires_grad_(False)

    # ----------------------------------------------------------------------------------------------- front-end
    def _init_frontend_from(self, path: str) -> None:
        source = FastPitchModel.restore_from(path, map_location="cpu")
        if not isinstance(source, FastPitchModel) or isinstance(source, DiffusionSpectrogramGenerator):
            raise ValueError(f"frontend.init_from must be a FastPitch .nemo, got {type(source).__name__} from {path}")
        for key in ("n_mel_channels", "sample_rate", "n_window_stride", "n_window_size", "n_fft", "highfreq", "lowfreq"):
            if source.cfg.get(key) != self._cfg.get(key):
                raise ValueError(
                    f"FastPitch {path} has {key}={source.cfg.get(key)}, this model {key}={self._cfg.get(key)}: "
                    "the mel settings of front-end and diffusion decoder must match"
                )
        missing, unexpected = self.load_state_dict(source.state_dict(), strict=False)
        missing = [k for k in missing if not k.startswith("mel_denoiser.") and k != "residual_scale"]
        if missing or unexpected:
            raise ValueError(f"FastPitch {path} does not fit this front-end: missing {missing}, unexpected {unexpected}")
        logging.info(f"Front-end initialised from {path}")

    # ------------------------------------------------------------------------------------ data normalisation
    def _x0_from_mel(self, mels: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        diffusion = self._cfg.diffusion
        if diffusion.prior == "residual":
            return (mels - coarse) / self.residual_scale
        return (mels - diffusion.mel_mean) / diffusion.mel_scale

    def _mel_from_x0(self, x0: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        diffusion = self._cfg.diffusion
        if diffusion.prior == "residual":
            return coarse + self.residual_scale * x0
        return diffusion.mel_mean + diffusion.mel_scale * x0

    @torch.no_grad()
    def _update_residual_scale(self, mels: torch.Tensor, coarse: torch.Tensor, mask: torch.Tensor) -> None:
        """``residual_scale: auto``: running RMS of ``mel - coarse`` over valid frames (momentum from
        ``diffusion.residual_scale_momentum``, default 0.99; the first batch of a fresh model sets it directly)."""
        if not (self.auto_residual_scale and self.training and self._cfg.diffusion.prior == "residual"):
            return
        frames = mask.sum() * mels.shape[1]
        rms = (((mels - coarse) ** 2 * mask).sum() / frames.clamp(min=1)).sqrt().clamp(min=1e-3)
        if self._trainer is not None and self.trainer.world_size > 1:
            torch.distributed.all_reduce(rms, op=torch.distributed.ReduceOp.AVG)
        if not torch.isfinite(rms):
            return
        if self._residual_scale_fresh and self.global_step == 0:
            self.residual_scale.copy_(rms)
        else:
            momentum = float(self._cfg.diffusion.get("residual_scale_momentum", 0.99))
            self.residual_scale.mul_(momentum).add_((1 - momentum) * rms)
        self._residual_scale_fresh = False

    def _prior_input(self, coarse: torch.Tensor) -> torch.Tensor:
        return (coarse - self._cfg.diffusion.mel_mean) / self._cfg.diffusion.mel_scale

    def denoise(self, z_t, log_snr, cond, prior, mask) -> torch.Tensor:
        """One denoiser call: ``z_t`` ``[B, n_mels, T]``, ``log_snr`` ``[B]``, ``cond`` ``[B, D, T]`` (length-regulated
        encoding), ``prior`` ``[B, n_mels, T]`` (normalised coarse mel), ``mask`` ``[B, 1, T]``; returns the prediction
        ``[B, n_mels, T]`` in the configured parameterization."""
        return self.mel_denoiser(z_t, log_snr, cond, prior, mask)

    # -------------------------------------------------------------------------------------------------- training
    def _diffusion_loss(self, taps: FastPitchTaps, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        diffusion = self._cfg.diffusion
        frames = min(taps.mels.shape[-1], taps.coarse_mel.shape[-1], taps.len_regulated.shape[1])
        lengths = torch.minimum(taps.mel_lens, taps.dec_lens).clamp(max=frames)
        mels, coarse = taps.mels[..., :frames], taps.coarse_mel[..., :frames].detach()
        cond = taps.len_regulated[:, :frames].transpose(1, 2)
        if self.frontend_frozen:
            cond = cond.detach()
        max_frames = diffusion.get("max_frames") or frames
        if frames > max_frames:  # one random window per batch keeps the step cheap on long utterances
            start = int(torch.randint(0, frames - max_frames + 1, (1,), generator=generator))
            mels, coarse, cond = (x[..., start : start + max_frames] for x in (mels, coarse, cond))
            lengths, frames = (lengths - start).clamp(0, max_frames), max_frames
        mask = _frame_mask(lengths, frames)
        self._update_residual_scale(mels, coarse, mask)
        x0 = self._x0_from_mel(mels, coarse) * mask
        prior = self._prior_input(coarse) * mask
        batch = x0.shape[0]
        rand = lambda *shape: torch.rand(*shape, generator=generator, device=x0.device)  # noqa: E731
        keep = (rand(batch) >= diffusion.get("cond_dropout", 0.0)).to(x0.dtype)[:, None, None]
        log_snr = self.schedule(rand(batch).double()).to(x0.dtype)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        z_t = noise_data(x0, log_snr, eps) * mask
        prediction = self.denoise(z_t, log_snr, cond * keep, prior * keep, mask)
        return weighted_denoising_loss(
            prediction, z_t, log_snr, x0, self.parameterization, diffusion.weighting,
            self.settings.weighting_gamma, mask=mask,
        )

    def training_step(self, batch, batch_idx):
        with FastPitchTaps(self) as taps:
            fastpitch_loss = super().training_step(batch, batch_idx)
        diffusion_loss = self._diffusion_loss(taps)
        self.log("t_diffusion_loss", diffusion_loss, prog_bar=True)
        if self._cfg.diffusion.prior == "residual":
            self.log("residual_scale", self.residual_scale)
        loss = diffusion_loss
        if not self.frontend_frozen:
            loss = fastpitch_loss + self._cfg.diffusion.get("loss_weight", 1.0) * diffusion_loss
        if not torch.isfinite(loss):
            return self._stop_on_nonfinite_loss(fastpitch_loss, diffusion_loss)
        return loss

    def _stop_on_nonfinite_loss(self, fastpitch_loss: torch.Tensor, diffusion_loss: torch.Tensor) -> None:
        """Skip this step (no backward, no optimizer step: the weights stay the last good ones) and stop training.

        Returning ``None`` from ``training_step`` makes Lightning skip the update; the checkpoint written when the
        run ends therefore holds the weights from before the bad batch.
        """
        self.nonfinite_loss_step = int(self.global_step)
        logging.error(
            f"non-finite training loss at step {self.global_step} (FastPitch {float(fastpitch_loss):.4g}, "
            f"diffusion {float(diffusion_loss):.4g}): stopping; the weights of the last good step are kept. "
            "Lower model.optim.lr or check the data (pitch statistics, silent or empty utterances)."
        )
        if self._trainer is not None:
            self.trainer.should_stop = True
        return None

    def validation_step(self, batch, batch_idx):
        with FastPitchTaps(self) as taps:
            outputs = super().validation_step(batch, batch_idx)
        generator = torch.Generator(device=self.device).manual_seed(1234 + batch_idx)  # same noise every epoch
        # kept apart from FastPitch's outputs: its on_validation_epoch_end unpacks exactly their seven values
        self._val_diffusion_losses.append(self._diffusion_loss(taps, generator))
        if batch_idx == 0:  # teacher-forced encoding of the first utterance, for the TensorBoard samples
            length = int(torch.minimum(taps.mel_lens[0], taps.dec_lens[0]))
            self._val_example = (taps.len_regulated[:1, :length].transpose(1, 2), taps.coarse_mel[:1, :, :length],
                                 taps.mels[:1, :, :length])
        return outputs

    def on_validation_epoch_end(self):
        if self._val_diffusion_losses:
            self.log("val_diffusion_loss", torch.stack(self._val_diffusion_losses).mean(), sync_dist=True)
            self._val_diffusion_losses.clear()
        self._log_val_samples()
        super().on_validation_epoch_end()

    def _log_val_samples(self):
        """TensorBoard: target, coarse and diffusion mel of the first validation utterance, and Griffin-Lim audio."""
        from lightning.pytorch.loggers import TensorBoardLogger

        example, self._val_example = getattr(self, "_val_example", None), None
        if example is None or not isinstance(self.logger, TensorBoardLogger) or self.trainer.sanity_checking:
            return
        from nemo.collections.tts.parts.utils.helpers import plot_spectrogram_to_numpy
        from nemo_distill.eval.griffin_lim import griffin_lim

        cond, coarse, target = example
        lengths = torch.tensor([coarse.shape[-1]], device=coarse.device)
        mel = self.decode_spectrogram(cond, coarse, lengths, seed=0)[0]
        writer, step = self.logger.experiment, self.global_step
        for name, spec in (("target", target[0]), ("coarse", coarse[0]), ("diffusion", mel)):
            writer.add_image(f"val_mel_{name}", plot_spectrogram_to_numpy(spec.float().cpu().numpy()), step,
                             dataformats="HWC")
        audio = griffin_lim(mel.float().cpu().numpy(), self._cfg.preprocessor)
        writer.add_audio("val_audio_diffusion_griffin_lim", torch.from_numpy(audio), step,
                         sample_rate=self._cfg.sample_rate)

    # ------------------------------------------------------------------------------------------------- inference
    def parse_batch(self, texts):
        """Texts -> ``(tokens [B, L] padded with the tokenizer's pad id, lengths [B])``; ValueError for bad text."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise ValueError("no text given")
        sequences = []
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"empty text: {text!r}")
            tokens = self.parse(text)[0]
            content = [int(t) for t in tokens if int(t) != self.vocab.pad and int(t) not in self._space_ids()]
            if not content:
                raise ValueError(f"text {text!r} has no character the {type(self.vocab).__name__} supports")
            sequences.append(tokens)
        lengths = torch.tensor([len(seq) for seq in sequences], device=self.device)
        padded = torch.full((len(sequences), int(lengths.max())), self.vocab.pad, dtype=torch.long, device=self.device)
        for i, seq in enumerate(sequences):
            padded[i, : len(seq)] = seq
        return padded, lengths

    def _space_ids(self):
        return {self.vocab.encode(" ")[0]} if self.vocab.encode(" ") else set()

    @torch.no_grad()
    def encode(self, tokens: torch.Tensor, speaker=None, pace: float = 1.0):
        """FastPitch front-end: ``tokens`` ``[B, L]`` -> ``(cond [B, D, T], coarse_mel [B, n_mels, T], mel_lens [B])``."""
        if isinstance(speaker, int):
            speaker = torch.tensor([speaker], device=self.device)
        with FastPitchTaps(self) as taps:
            pitch = torch.zeros(tokens.shape, device=tokens.device, dtype=torch.float)
            self.fastpitch.infer(text=tokens, pitch=pitch, pace=pace, speaker=speaker)
        return taps.len_regulated.transpose(1, 2), taps.coarse_mel, taps.dec_lens

    @torch.no_grad()
    def generate_spectrogram(
        self,
        tokens: torch.Tensor,
        speaker: Optional[int] = None,
        pace: float = 1.0,
        steps: Optional[int] = None,
        sampler: Optional[str] = None,
        guidance_scale: float = 0.0,
        seed: Optional[int] = None,
        eta: float = 0.0,
        noise: Optional[torch.Tensor] = None,
        t_start: Optional[float] = None,
        temperature: Optional[float] = None,
        return_lengths: bool = False,
        **kwargs,
    ):
        """Text tokens ``[B, L]`` (from :meth:`parse`, padded with the tokenizer's pad id) -> log-mel ``[B, n_mels, T]``.

        ``steps`` denoiser calls (default ``diffusion.default_steps``) with ``sampler`` (``ddim``, ``ddpm``,
        ``dpmpp_2m``); ``guidance_scale`` > 0 applies classifier-free guidance (two calls per step); ``seed`` makes the
        noise reproducible, or ``noise`` ``[B, n_mels, >= T]`` gives it explicitly (cropped to the utterances' length).
        ``t_start`` < 1 is shallow diffusion (DiffSinger): sampling starts at ``t_start`` from the coarse mel noised to
        that level (default ``diffusion.t_start``, 1 = from noise). ``temperature`` scales the starting noise (default
        ``diffusion.temperature``; < 1 trades diversity for fidelity, like Grad-TTS's temperature or VITS's
        noise scale). Frames past each utterance's length are set to the log-mel floor (silence). With
        ``return_lengths`` it returns ``(mels, mel_lens)``.
        """
        if self.training:
            logging.warning("generate_spectrogram() is meant to be called in eval mode.")
        cond, coarse, lengths = self.encode(tokens, speaker=speaker, pace=pace)
        mels = self.decode_spectrogram(cond, coarse, lengths, steps=steps, sampler=sampler,
                                       guidance_scale=guidance_scale, seed=seed, eta=eta, noise=noise,
                                       t_start=t_start, temperature=temperature)
        return (mels, lengths) if return_lengths else mels

    @torch.no_grad()
    def decode_spectrogram(
        self,
        cond: torch.Tensor,
        coarse_mel: torch.Tensor,
        lengths: torch.Tensor,
        steps: Optional[int] = None,
        sampler: Optional[str] = None,
        guidance_scale: float = 0.0,
        seed: Optional[int] = None,
        eta: float = 0.0,
        noise: Optional[torch.Tensor] = None,
        t_start: Optional[float] = None,
        temperature: Optional[float] = None,
    ) -> torch.Tensor:
        """The diffusion decoder alone: ``cond`` ``[B, D, T]``, ``coarse_mel`` ``[B, n_mels, T]`` and ``lengths``
        ``[B]`` from :meth:`encode` -> log-mel ``[B, n_mels, T]``. Arguments as in :meth:`generate_spectrogram`.

        Padding-invariant: each utterance's frames depend only on its own valid frames and noise.
        """
        steps = self.settings.default_steps if steps is None else steps
        mask = _frame_mask(lengths, coarse_mel.shape[-1])
        cond, coarse = cond * mask, coarse_mel
        prior = self._prior_input(coarse) * mask
        generator = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        if noise is None:
            noise = torch.randn(coarse.shape, generator=generator, device=self.device, dtype=coarse.dtype)
        elif noise.shape[:2] != coarse.shape[:2] or noise.shape[-1] < coarse.shape[-1]:
            raise ValueError(f"noise must have shape [B={coarse.shape[0]}, n_mels={coarse.shape[1]}, >= {coarse.shape[-1]}], "
                             f"got {list(noise.shape)}")
        temperature = float(self.settings.temperature if temperature is None else temperature)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        noise = noise[..., : coarse.shape[-1]].to(device=self.device, dtype=coarse.dtype) * mask * temperature
        t_start = float(self.settings.t_start if t_start is None else t_start)
        alpha, sigma = alpha_sigma(self.schedule(torch.tensor(t_start, dtype=torch.float64)))
        # z at t_start: the coarse mel noised to that level (its x0 is 0 for the residual prior); t_start = 1: noise
        z_start = (float(alpha) * self._x0_from_mel(coarse, coarse) + float(sigma) * noise) * mask

        def conditional(z_t, log_snr):
            return self.denoise(z_t, log_snr, cond, prior, mask)

        def unconditional(z_t, log_snr):
            return self.denoise(z_t, log_snr, torch.zeros_like(cond), torch.zeros_like(prior), mask)

        x0 = sample(
            cfg_model_fn(conditional, unconditional, guidance_scale), z_start, steps, schedule=self.schedule,
            parameterization=self.parameterization, sampler=sampler or self.settings.sampler, eta=eta,
            generator=generator, t_start=t_start,
        )
        floor = float(torch.log(torch.tensor(self._cfg.preprocessor.get("log_zero_guard_value", 1e-5))))
        return torch.where(mask, self._mel_from_x0(x0, coarse), torch.full_like(x0, floor))

    @torch.no_grad()
    def generate_coarse_spectrogram(self, tokens: torch.Tensor, speaker=None, pace: float = 1.0) -> torch.Tensor:
        """FastPitch's own regression mel ``[B, n_mels, T]`` for the same tokens (the no-diffusion baseline)."""
        _, coarse, _ = self.encode(tokens, speaker=speaker, pace=pace)
        return coarse

    EXPORT_FORMS = ("sampler", "frontend", "step")

    def export(
        self,
        output: str,
        form: str = "sampler",
        steps: Optional[int] = None,
        guidance_scale: float = 0.0,
        allow_step_mismatch: bool = False,
        **kwargs,
    ):
        """Export one graph of this voice to ONNX (or TorchScript, by ``output``'s extension) through NeMo's
        ``Exportable`` (neural types give the names, batch and time axes are dynamic).

        ``form``:

        * ``sampler``: the whole ``steps``-step sampler unrolled into one graph (:class:`UnrolledSamplerGraph`):
          ``cond``, ``coarse_mel``, ``mel_lens``, ``noise`` -> ``mel``. ``steps`` defaults to a distilled
          student's own; another K needs ``allow_step_mismatch`` (see :func:`export_sampler_steps`).
          ``guidance_scale`` > 0 unrolls classifier-free guidance (two denoiser calls per step).
        * ``frontend``: the FastPitch front-end (:class:`FrontendGraph`): ``tokens`` -> ``cond``, ``coarse_mel``,
          ``mel_lens``.
        * ``step``: one denoiser call (``z_t``, ``log_snr``, ``cond``, ``prior``, ``mask`` -> ``prediction``), for
          runtimes that drive the sampling loop themselves.

        Other keyword arguments go to ``Exportable.export``. The model is left in eval mode with its parameters'
        ``requires_grad`` as they were (``Exportable`` turns them off).
        """
        from nemo_distill.export.graphs import FrontendGraph, UnrolledSamplerGraph, export_sampler_steps

        if form not in self.EXPORT_FORMS:
            raise ValueError(f"unknown export form {form!r}; valid options: {list(self.EXPORT_FORMS)}")
        if form == "sampler":
            graph = UnrolledSamplerGraph(self, export_sampler_steps(self, steps, allow_step_mismatch), guidance_scale)
        elif form == "frontend":
            graph = FrontendGraph(self)
        else:
            graph = self.mel_denoiser
        requires_grad = {name: p.requires_grad for name, p in self.named_parameters()}
        self.eval()
        try:
            with warnings.catch_warnings():
                if form == "sampler":  # the schedule's log-SNRs, the noise check, the mel floor: constants by design
                    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                return graph.export(output, **kwargs)
        finally:
            for name, p in self.named_parameters():
                p.requires_grad_(requires_grad[name])

    @classmethod
    def from_nemo(cls, path: str, map_location: str = "cpu") -> "DiffusionSpectrogramGenerator":
        """Restore a ``.nemo`` and check it holds this class (or a subclass); ValueError naming what it holds."""
        from nemo.core.classes import ModelPT

        model = ModelPT.restore_from(path, map_location=map_location)
        if not isinstance(model, cls):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model.eval()

    @classmethod
    def list_available_models(cls):
        return None
