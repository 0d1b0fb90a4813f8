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

"""DiffusionMelDecoder: a diffusion model of the mel-spectrogram given FastPitch's encoding, as one unit.

It owns the whole job of a diffusion mel decoder: the denoiser network, the data space the diffusion runs in (the
prior and normalisation, with the ``residual_scale`` buffer), frame masks, the training loss, the starting state and
the sampling loop (classifier-free guidance included). Everything takes plain tensors:

* ``cond`` ``[B, D, T]``: the length-regulated encoding FastPitch feeds its own decoder;
* ``coarse`` ``[B, n_mels, T]``: FastPitch's regression mel, the prior;
* ``mel`` ``[B, n_mels, T]``: a log-mel (target or sample), ``lengths`` ``[B]`` its valid frames.

Data space (``prior``):

* ``residual`` (Grad-TTS-style prior mean): ``x0 = (mel - coarse) / residual_scale``, so the diffusion learns the
  detail a regression decoder smooths away; ``residual_scale: auto`` keeps a running RMS of ``mel - coarse`` over the
  training batches so that ``x0`` has unit variance, as the eps/v parameterizations assume;
* ``none``: ``x0 = (mel - mel_mean) / mel_scale``.

The public calls are :meth:`loss` (training), :meth:`x0_prediction` (one denoiser call in x0 form, what distillation
needs from a teacher and a student) and :meth:`decode` (sampling, with one :class:`SamplingOptions`).
"""

from typing import Callable, Optional

import torch
from omegaconf import DictConfig

from nemo.core.classes import NeuralModule
from nemo.core.classes.common import safe_instantiate
from nemo_distill.diffusion import (
    SamplingOptions,
    alpha_sigma,
    cfg_model_fn,
    frame_mask,
    noise_data,
    prediction_to_x0_eps,
    sample,
    weighted_denoising_loss,
)
from nemo_distill.diffusion.settings import DiffusionSettings

__all__ = ["DiffusionMelDecoder", "PRIORS"]

PRIORS = ("residual", "none")


class DiffusionMelDecoder(NeuralModule):
    """Denoiser + data space + loss + sampler of a diffusion mel decoder (see the module docstring).

    ``denoiser``: a module ``(z_t, log_snr, cond, prior, mask) -> prediction`` (e.g.
    :class:`~nemo_distill.modules.mel_denoiser.MelDenoiser`) with ``n_mels`` and ``cond_channels`` attributes;
    ``settings``: the checked ``diffusion`` config (:class:`DiffusionSettings`); ``mel_floor``: the log-mel of
    silence written past each utterance's length.
    """

    def __init__(
        self,
        denoiser: torch.nn.Module,
        settings: DiffusionSettings,
        prior: str = "residual",
        residual_scale="auto",
        residual_scale_momentum: float = 0.99,
        mel_mean: float = 0.0,
        mel_scale: float = 1.0,
        cond_dropout: float = 0.0,
        max_frames: Optional[int] = None,
        mel_floor: float = float(torch.log(torch.tensor(1e-5))),
    ):
        super().__init__()
        if prior not in PRIORS:
            raise ValueError(f"unknown diffusion prior {prior!r}; valid options: {list(PRIORS)}")
        self.denoiser = denoiser
        self.settings = settings
        self.prior = prior
        self.mel_mean, self.mel_scale = float(mel_mean), float(mel_scale)
        self.cond_dropout, self.max_frames = float(cond_dropout), (int(max_frames) if max_frames else None)
        self.residual_scale_momentum = float(residual_scale_momentum)
        self.mel_floor = float(mel_floor)
        self.auto_residual_scale = residual_scale in (None, "auto")
        # the scale x0 is divided by; saved with the weights (a student or a restored model keeps its teacher's)
        self.register_buffer("residual_scale", torch.tensor(1.0 if self.auto_residual_scale else float(residual_scale)))
        self._residual_scale_fresh = self.auto_residual_scale  # the first estimate replaces the placeholder 1.0

    @classmethod
    def from_config(cls, diffusion: DictConfig, mel_floor: float) -> "DiffusionMelDecoder":
        """Build from a ``diffusion`` config section (``denoiser``: a ``_target_``, plus the keys of
        :class:`DiffusionSettings`, ``prior``, ``residual_scale``, ``residual_scale_momentum``, ``mel_mean``,
        ``mel_scale``, ``cond_dropout``, ``max_frames``)."""
        settings = DiffusionSettings.from_config(diffusion)
        if diffusion.get("prior", "residual") not in PRIORS:  # before the network is built
            raise ValueError(f"unknown diffusion prior {diffusion.prior!r}; valid options: {list(PRIORS)}")
        decoder = cls(
            safe_instantiate(diffusion.denoiser), settings, prior=diffusion.get("prior", "residual"),
            residual_scale=diffusion.get("residual_scale", "auto"),
            residual_scale_momentum=float(diffusion.get("residual_scale_momentum", 0.99)),
            mel_mean=diffusion.get("mel_mean", 0.0), mel_scale=diffusion.get("mel_scale", 1.0),
            cond_dropout=diffusion.get("cond_dropout", 0.0), max_frames=diffusion.get("max_frames"),
            mel_floor=mel_floor,
        )
        decoder.check_layer_budget(settings.layer_budget)  # a default the network cannot run fails here
        return decoder

    # ------------------------------------------------------------------------------------------------ shapes
    @property
    def n_mels(self) -> int:
        return int(self.denoiser.n_mels)

    @property
    def cond_channels(self) -> int:
        return int(self.denoiser.cond_channels)

    @property
    def defaults(self) -> SamplingOptions:
        """The configured sampling defaults (steps, sampler, temperature, t_start)."""
        return self.settings.sampling_defaults

    @property
    def num_blocks(self) -> Optional[int]:
        """The denoiser's residual blocks (None for a denoiser without layer budgets)."""
        return getattr(self.denoiser, "num_blocks", None)

    def check_layer_budget(self, layer_budget: Optional[int]) -> Optional[int]:
        """``layer_budget`` checked against the denoiser (ValueError naming the valid range)."""
        if layer_budget is None:
            return None
        if not hasattr(self.denoiser, "check_layer_budget"):
            raise ValueError(f"{type(self.denoiser).__name__} has no layer budgets: layer_budget must be null")
        return self.denoiser.check_layer_budget(layer_budget)

    # ------------------------------------------------------------------------------------------- data space
    def x0_from_mel(self, mel: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, n_mels, T]`` -> the diffusion's data ``x0`` ``[B, n_mels, T]``."""
        if self.prior == "residual":
            return (mel - coarse) / self.residual_scale
        return (mel - self.mel_mean) / self.mel_scale

    def mel_from_x0(self, x0: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`x0_from_mel`."""
        if self.prior == "residual":
            return coarse + self.residual_scale * x0
        return self.mel_mean + self.mel_scale * x0

    def prior_input(self, coarse: torch.Tensor) -> torch.Tensor:
        """The coarse mel as the denoiser sees it (normalised) ``[B, n_mels, T]``."""
        return (coarse - self.mel_mean) / self.mel_scale

    @torch.no_grad()
    def update_residual_scale(self, mel: torch.Tensor, coarse: torch.Tensor, mask: torch.Tensor) -> None:
        """``residual_scale: auto`` in training mode: running RMS of ``mel - coarse`` over valid frames, averaged over
        the DDP ranks (the first estimate of a fresh decoder is taken as it is)."""
        if not (self.auto_residual_scale and self.training and self.prior == "residual"):
            return
        frames = mask.sum() * mel.shape[1]
        rms = (((mel - coarse) ** 2 * mask).sum() / frames.clamp(min=1)).sqrt().clamp(min=1e-3)
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            torch.distributed.all_reduce(rms, op=torch.distributed.ReduceOp.AVG)
        if not torch.isfinite(rms):
            return
        if self._residual_scale_fresh:
            self.residual_scale.copy_(rms)
        else:
            momentum = self.residual_scale_momentum
            self.residual_scale.mul_(momentum).add_((1 - momentum) * rms)
        self._residual_scale_fresh = False

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if prefix + "residual_scale" in state_dict:  # a trained scale: updated by the running average from now on
            self._residual_scale_fresh = False
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------------------------------- the network
    def prediction(self, z_t, log_snr, cond, prior, mask, layer_budget: Optional[int] = None) -> torch.Tensor:
        """One denoiser call in the configured parameterization: ``z_t`` ``[B, n_mels, T]``, ``log_snr`` ``[B]``,
        ``cond`` ``[B, D, T]``, ``prior`` ``[B, n_mels, T]`` (:meth:`prior_input`), ``mask`` ``[B, 1, T]``;
        ``layer_budget``: residual blocks to run (None: the config's ``diffusion.layer_budget``, by default all)."""
        if layer_budget is None:
            layer_budget = self.settings.layer_budget
        if layer_budget is None:
            return self.denoiser(z_t, log_snr, cond, prior, mask)
        return self.denoiser(z_t, log_snr, cond, prior, mask, layer_budget=self.check_layer_budget(layer_budget))

    def model_fn(self, cond: torch.Tensor, coarse: torch.Tensor, mask: torch.Tensor, guidance_scale: float = 0.0,
                 layer_budget: Optional[int] = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(z_t, log_snr) -> prediction`` for the sampler, conditioned on ``cond``/``coarse`` (zeroed past ``mask``),
        with classifier-free guidance at ``guidance_scale`` (the null condition: zero ``cond`` and prior), running
        ``layer_budget`` residual blocks per call (None: the configured default)."""
        cond = cond * mask
        prior = self.prior_input(coarse) * mask

        def conditional(z_t, log_snr):
            return self.prediction(z_t, log_snr, cond, prior, mask, layer_budget)

        def unconditional(z_t, log_snr):
            return self.prediction(z_t, log_snr, torch.zeros_like(cond), torch.zeros_like(prior), mask, layer_budget)

        return cfg_model_fn(conditional, unconditional, guidance_scale)

    def features(self, z_t: torch.Tensor, log_snr: torch.Tensor, cond: torch.Tensor, coarse: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
        """The denoiser's last hidden features ``[B, channels, T]`` at ``z_t``, ``log_snr`` ``[B]`` (what its output
        layer reads; a discriminator head's input), full depth."""
        if not hasattr(self.denoiser, "skip_stream"):
            raise ValueError(f"{type(self.denoiser).__name__} exposes no features (skip_stream): an adversarial head "
                             "needs a MelDenoiser")
        return self.denoiser.skip_stream(z_t, log_snr, cond * mask, self.prior_input(coarse) * mask, mask) * mask

    @property
    def feature_channels(self) -> int:
        """Channels of :meth:`features`."""
        return int(self.denoiser.output[0].in_channels)

    def x0_prediction(self, z_t: torch.Tensor, log_snr: torch.Tensor, cond: torch.Tensor, coarse: torch.Tensor,
                      mask: torch.Tensor, guidance_scale: float = 0.0, layer_budget: Optional[int] = None
                      ) -> torch.Tensor:
        """The denoiser's estimate of ``x0`` ``[B, n_mels, T]`` from ``z_t`` at ``log_snr`` ``[B]`` (zero past
        ``mask``), classifier-free-guided at ``guidance_scale``, with ``layer_budget`` blocks (None: the configured
        default)."""
        prediction = self.model_fn(cond, coarse, mask, guidance_scale, layer_budget)(z_t, log_snr)
        x0, _ = prediction_to_x0_eps(prediction, z_t, log_snr, self.settings.parameterization)
        return x0 * mask

    # ------------------------------------------------------------------------------------------------- training
    def random_window(self, *tensors: torch.Tensor, lengths: torch.Tensor,
                      generator: Optional[torch.Generator] = None, max_frames: Optional[int] = None):
        """One random window of at most ``max_frames`` frames (default: the configured ``max_frames``), the same for
        every tensor ``[B, C, T]`` of the batch (keeps a training step cheap on long utterances):
        ``(*windows, lengths)``."""
        frames = tensors[0].shape[-1]
        max_frames = int(max_frames or self.max_frames or frames)
        if frames <= max_frames:
            return (*tensors, lengths)
        start = int(torch.randint(0, frames - max_frames + 1, (1,), generator=generator))
        windows = tuple(x[..., start: start + max_frames] for x in tensors)
        return (*windows, (lengths - start).clamp(0, max_frames))

    def loss(self, cond: torch.Tensor, coarse: torch.Tensor, mel: torch.Tensor, lengths: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The weighted denoising loss of one batch (``diffusion.weighting`` on the x0 error) at uniformly drawn
        times, with ``cond_dropout`` of the condition (for classifier-free guidance); in training mode it also
        updates ``residual_scale: auto``."""
        mel, coarse, cond, lengths = self.random_window(mel, coarse, cond, lengths=lengths, generator=generator)
        mask = frame_mask(lengths, mel.shape[-1])
        self.update_residual_scale(mel, coarse, mask)
        x0 = self.x0_from_mel(mel, coarse) * mask
        prior = self.prior_input(coarse) * mask
        batch = x0.shape[0]
        rand = lambda *shape: torch.rand(*shape, generator=generator, device=x0.device)  # noqa: E731
        keep = (rand(batch) >= self.cond_dropout).to(x0.dtype)[:, None, None]
        log_snr = self.settings.schedule(rand(batch).double()).to(x0.dtype)
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        z_t = noise_data(x0, log_snr, eps) * mask
        prediction = self.prediction(z_t, log_snr, cond * keep, prior * keep, mask)
        return weighted_denoising_loss(prediction, z_t, log_snr, x0, self.settings.parameterization,
                                       self.settings.weighting, self.settings.weighting_gamma, mask=mask)

    # ------------------------------------------------------------------------------------------------- sampling
    def resolve(self, options: Optional[SamplingOptions] = None) -> SamplingOptions:
        """``options`` with the configured defaults filled in, the layer budget checked against the network: the
        settings a call will sample with (what a CLI prints and records)."""
        options = (options or SamplingOptions()).with_defaults(self.defaults)
        self.check_layer_budget(options.layer_budget)
        return options

    def starting_state(self, coarse: torch.Tensor, mask: torch.Tensor, options: Optional[SamplingOptions] = None,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``z`` at ``options.t_start`` ``[B, n_mels, T]``: the prior (``x0`` of the coarse mel, 0 for the residual
        prior) noised to that level with ``options.noise`` (or noise drawn from ``generator``, by default one seeded
        with ``options.seed``) times the temperature."""
        options = self.resolve(options)
        noise = options.noise
        if noise is None:
            generator = generator if generator is not None else options.generator(coarse.device)
            noise = torch.randn(coarse.shape, generator=generator, device=coarse.device, dtype=coarse.dtype)
        elif noise.shape[:2] != coarse.shape[:2] or noise.shape[-1] < coarse.shape[-1]:
            raise ValueError(f"noise must have shape [B={coarse.shape[0]}, n_mels={coarse.shape[1]}, "
                             f">= {coarse.shape[-1]}], got {list(noise.shape)}")
        noise = noise[..., : coarse.shape[-1]].to(device=coarse.device, dtype=coarse.dtype) * mask * options.temperature
        alpha, sigma = alpha_sigma(self.settings.schedule(torch.tensor(options.t_start, dtype=torch.float64)))
        return (float(alpha) * self.x0_from_mel(coarse, coarse) + float(sigma) * noise) * mask

    @torch.no_grad()
    def decode(self, cond: torch.Tensor, coarse: torch.Tensor, lengths: torch.Tensor,
               options: Optional[SamplingOptions] = None) -> torch.Tensor:
        """Sample a log-mel ``[B, n_mels, T]`` for ``cond`` ``[B, D, T]``, ``coarse`` ``[B, n_mels, T]`` and
        ``lengths`` ``[B]``; frames past each length are the log-mel floor (silence).

        Padding-invariant: each utterance's frames depend only on its own valid frames and noise.
        """
        options = self.resolve(options)
        mask = frame_mask(lengths, coarse.shape[-1])
        generator = options.generator(coarse.device)  # draws the starting noise, then a stochastic sampler's
        z_start = self.starting_state(coarse, mask, options, generator)
        model_fn = self.model_fn(cond, coarse, mask, options.guidance_scale, options.layer_budget)
        x0 = sample(model_fn, z_start, options.steps,
                    schedule=self.settings.schedule, parameterization=self.settings.parameterization,
                    sampler=options.sampler, eta=options.eta, generator=generator, t_start=options.t_start)
        return torch.where(mask, self.mel_from_x0(x0, coarse), torch.full_like(x0, self.mel_floor))

