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

"""DiffusionSpectrogramGenerator: NeMo's FastPitch front-end with a diffusion mel decoder on top.

FastPitch (tokenizer, encoder, aligner, duration and pitch predictors, its regression decoder) is NeMo's own
``FastPitchModel``, inherited unchanged: its losses, data pipeline, ``parse`` and logging all still apply. On top, a
:class:`~nemo_distill.modules.mel_decoder.DiffusionMelDecoder` (``self.decoder``, built from the ``diffusion``
config section) generates the mel conditioned on the length-regulated encoding (the tensor FastPitch feeds its own
decoder) and on FastPitch's coarse mel as a prior. This class is the wiring: FastPitch's tensors into the decoder,
the Lightning hooks; its text rules are :class:`~nemo_distill.parts.text_frontend.TextFrontend`'s and its export
:class:`~nemo_distill.parts.voice_export.VoiceExport`'s.

The number of sampling steps, the sampler, the classifier-free guidance scale, the temperature and ``t_start`` are
call-time arguments of :meth:`generate_spectrogram` (or one :class:`~nemo_distill.diffusion.SamplingOptions`).
"""

import warnings
from dataclasses import fields
from typing import Optional

import torch
from lightning.pytorch import Trainer
from omegaconf import DictConfig, OmegaConf

from nemo.collections.tts.models import FastPitchModel
from nemo.utils import logging
from nemo_distill.diffusion import SamplingOptions
from nemo_distill.modules.mel_decoder import DiffusionMelDecoder
from nemo_distill.parts.fastpitch_taps import FastPitchTaps
from nemo_distill.parts.mel_settings import mel_settings, mel_settings_mismatch
from nemo_distill.parts.nemo_integrity import RecordsIntegrity
from nemo_distill.parts.restore import WrongModelClassError, restore_model
from nemo_distill.parts.tensorboard import log_mels_and_audio
from nemo_distill.parts.text_frontend import TextFrontend
from nemo_distill.parts.voice_export import VoiceExport
from nemo_distill.runtime.text import MAX_CHARS

__all__ = ["DiffusionSpectrogramGenerator"]

# state-dict keys of .nemo files written before the decoder was one module
_LEGACY_KEYS = (("mel_denoiser.", "decoder.denoiser."), ("residual_scale", "decoder.residual_scale"))


class DiffusionSpectrogramGenerator(RecordsIntegrity, VoiceExport, FastPitchModel):
    """A NeMo ``SpectrogramGenerator`` whose mel decoder is a diffusion model conditioned on FastPitch's encoding.

    Config: every key of NeMo's FastPitch config, plus ``diffusion`` (the
    :class:`~nemo_distill.modules.mel_decoder.DiffusionMelDecoder`: ``denoiser``, a ``_target_`` of a module taking
    ``(z_t, log_snr, cond, prior, mask)``; ``schedule``; ``parameterization``; ``weighting``; ``weighting_gamma``;
    ``prior``; ``residual_scale``; ``mel_mean``; ``mel_scale``; ``cond_dropout``; ``loss_weight``; ``max_frames``;
    ``default_steps``; ``sampler``; ``temperature``; ``t_start``) and ``frontend``: ``freeze`` (train the diffusion
    decoder only). A FastPitch ``.nemo`` initialises the front-end through NeMo's ``init_from_nemo_model``
    (:meth:`maybe_init_from_pretrained_checkpoint`, with this model's class and mel checks).
    """

    def __init__(self, cfg: DictConfig, trainer: Optional[Trainer] = None):
        super().__init__(cfg=cfg, trainer=trainer)
        floor = float(torch.log(torch.tensor(self._cfg.preprocessor.get("log_zero_guard_value", 1e-5))))
        self.decoder = DiffusionMelDecoder.from_config(self._cfg.diffusion, mel_floor=floor)
        if self.decoder.n_mels != self._cfg.n_mel_channels:
            raise ValueError(f"diffusion.denoiser.n_mels ({self.decoder.n_mels}) must equal n_mel_channels "
                             f"({self._cfg.n_mel_channels})")
        self._val_diffusion_losses = []
        self.nonfinite_loss_step: Optional[int] = None  # set when training stopped on a NaN/inf loss
        self.frontend_frozen = bool((self._cfg.get("frontend", {}) or {}).get("freeze", False))
        if self.frontend_frozen:
            for name, module in self.named_children():
                if name != "decoder":
                    module.requires_grad_(False)
        self._register_load_state_dict_pre_hook(_rename_legacy_keys)
        legacy_init = (self._cfg.get("frontend", {}) or {}).get("init_from")
        if legacy_init and not self._is_model_being_restored():
            warnings.warn("model.frontend.init_from is deprecated: give init_from_nemo_model=<FastPitch .nemo> to "
                          "scripts/train_diffusion_tts.py (NeMo's init-from-pretrained mechanism) or call "
                          "model.maybe_init_from_pretrained_checkpoint(...)", DeprecationWarning, stacklevel=2)
            self.maybe_init_from_pretrained_checkpoint(OmegaConf.create({"init_from_nemo_model": legacy_init}))

    @property
    def settings(self):
        """The decoder's checked ``diffusion`` settings (schedule, parameterization, sampling defaults)."""
        return self.decoder.settings

    # ----------------------------------------------------------------------------------------------- front-end
    def maybe_init_from_pretrained_checkpoint(self, cfg: DictConfig, map_location: str = "cpu"):
        """NeMo's init-from-pretrained config keys. ``init_from_nemo_model`` (a path, or NeMo's dict of
        ``{name: {path, include, exclude}}``) names FastPitch ``.nemo`` files for the front-end: each is checked
        first (a FastPitch, not a diffusion voice, with this model's mel settings and weights that cover the whole
        front-end) and loaded with NeMo's ``load_part_of_state_dict``. (NeMo's own implementation restores the file
        through the calling class, which would build a diffusion voice from a FastPitch config.) Other keys
        (``init_from_ptl_ckpt``, ``init_from_pretrained_model``) go to NeMo unchanged."""
        source = cfg.get("init_from_nemo_model") if "init_from_nemo_model" in cfg else None
        if source is None:
            return super().maybe_init_from_pretrained_checkpoint(cfg, map_location=map_location)
        entries = {"frontend": {"path": source}} if isinstance(source, str) else source
        for entry in entries.values():
            fastpitch = self.check_frontend_source(entry["path"])
            self.load_part_of_state_dict(fastpitch.state_dict(), list(entry.get("include", [""])),
                                         list(entry.get("exclude", [])), f"nemo file with path `{entry['path']}`")

    def check_frontend_source(self, path: str) -> FastPitchModel:
        """The FastPitch restored from ``path``; ValueError unless it is a FastPitch whose mel settings and weights
        fit this model's front-end."""
        try:
            source = restore_model(path, FastPitchModel)
        except WrongModelClassError as error:
            raise ValueError(f"the front-end source must be a FastPitch .nemo: {error}") from None
        if isinstance(source, DiffusionSpectrogramGenerator):
            raise ValueError(f"the front-end source must be a FastPitch .nemo, got {type(source).__name__} from {path}")
        differing = mel_settings_mismatch(mel_settings(self._cfg), mel_settings(source.cfg))
        if differing:
            details = "; ".join(f"{key}={b!r} (this model {key}={a!r})" for key, (a, b) in differing.items())
            raise ValueError(f"FastPitch {path} has {details}: the mel settings of front-end and diffusion decoder "
                             "must match")
        ours = {k for k in self.state_dict() if not k.startswith("decoder.")}
        missing, unexpected = sorted(ours - set(source.state_dict())), sorted(set(source.state_dict()) - ours)
        if missing or unexpected:
            raise ValueError(f"FastPitch {path} does not fit this front-end: missing {missing}, unexpected {unexpected}")
        return source

    # -------------------------------------------------------------------------------------------------- training
    def _decoder_inputs(self, taps: FastPitchTaps):
        """FastPitch's tensors of one batch, cut to a common length: ``(cond [B, D, T], coarse [B, n_mels, T],
        mel [B, n_mels, T], lengths [B])``."""
        frames = min(taps.mels.shape[-1], taps.coarse_mel.shape[-1], taps.len_regulated.shape[1])
        lengths = torch.minimum(taps.mel_lens, taps.dec_lens).clamp(max=frames)
        cond = taps.len_regulated[:, :frames].transpose(1, 2)
        if self.frontend_frozen:
            cond = cond.detach()
        return cond, taps.coarse_mel[..., :frames].detach(), taps.mels[..., :frames], lengths

    def _diffusion_loss(self, taps: FastPitchTaps, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        cond, coarse, mel, lengths = self._decoder_inputs(taps)
        return self.decoder.loss(cond, coarse, mel, lengths, generator=generator)

    def training_step(self, batch, batch_idx):
        with FastPitchTaps(self) as taps:
            fastpitch_loss = super().training_step(batch, batch_idx)
        diffusion_loss = self._diffusion_loss(taps)
        self.log("t_diffusion_loss", diffusion_loss, prog_bar=True)
        if self.decoder.prior == "residual":
            self.log("residual_scale", self.decoder.residual_scale)
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
        example, self._val_example = getattr(self, "_val_example", None), None
        if example is None or self.trainer.sanity_checking:
            return
        cond, coarse, target = example
        lengths = torch.tensor([coarse.shape[-1]], device=coarse.device)
        mel = self.decoder.decode(cond, coarse, lengths, SamplingOptions(seed=0))[0]
        log_mels_and_audio(self.logger, self.global_step, {"target": target[0], "coarse": coarse[0], "diffusion": mel},
                           audio_name="diffusion", preprocessor_cfg=self._cfg.preprocessor,
                           sample_rate=self._cfg.sample_rate)

    # ------------------------------------------------------------------------------------------------- inference
    @property
    def text_frontend(self) -> TextFrontend:
        """The text rules (:class:`~nemo_distill.parts.text_frontend.TextFrontend`): check, cut, parse."""
        if getattr(self, "_text_frontend", None) is None:
            self._text_frontend = TextFrontend(self.vocab, self.parse)
        return self._text_frontend

    def check_text(self, text: str, strict: bool = False) -> None:
        """ValueError for an empty text or one with nothing to speak; dropped characters warned (``strict``:
        refused). See :meth:`TextFrontend.check <nemo_distill.parts.text_frontend.TextFrontend.check>`."""
        self.text_frontend.check(text, strict)

    def text_pieces(self, text: str, max_chars: int = MAX_CHARS):
        """``text`` cut into pieces of at most ``max_chars`` characters at sentence ends, each with something to
        speak (a long text is synthesised piece by piece, so memory stays bounded)."""
        return self.text_frontend.pieces(text, max_chars)

    def parse_batch(self, texts, strict: bool = False, check: bool = True):
        """Texts -> ``(tokens [B, L] padded with the tokenizer's pad id, lengths [B])``, every text checked first
        (:meth:`check_text`; ``check=False``: the caller checked them already)."""
        return self.text_frontend.parse_batch(texts, strict, check, device=self.device)

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
    def generate_spectrogram(self, tokens: torch.Tensor, speaker: Optional[int] = None, pace: float = 1.0,
                             options: Optional[SamplingOptions] = None, return_lengths: bool = False,
                             **sampling):
        """Text tokens ``[B, L]`` (from :meth:`parse_batch`, padded with the tokenizer's pad id) -> log-mel
        ``[B, n_mels, T]`` (with ``return_lengths``: ``(mels, mel_lens)``).

        ``options``: a :class:`~nemo_distill.diffusion.SamplingOptions` (``None`` fields: the config's ``diffusion``
        defaults): ``steps`` denoiser calls with ``sampler`` (``ddim``, ``ddpm``, ``dpmpp_2m``); ``guidance_scale`` > 0
        applies classifier-free guidance (two calls per step); ``seed`` makes the noise reproducible, or ``noise``
        ``[B, n_mels, >= T]`` gives it (cropped to the utterances' length); ``t_start`` < 1 is shallow diffusion from
        the coarse mel noised to that level; ``temperature`` scales the starting noise; ``layer_budget`` runs that
        many of the denoiser's residual blocks per call. Frames past each utterance's length are the log-mel floor
        (silence). The decoder alone (``cond``, ``coarse`` and lengths from :meth:`encode`) is
        ``self.decoder.decode(cond, coarse, lengths, options)``; ``self.decoder.resolve(options)`` gives the settings
        a call will use.

        The sampling fields as keywords (``steps=``, ``seed=``, ...) still work and are deprecated: pass ``options``.
        """
        if sampling:
            warnings.warn(f"generate_spectrogram({', '.join(f'{k}=' for k in sorted(sampling))}...) is deprecated: "
                          "pass options=SamplingOptions(...)", DeprecationWarning, stacklevel=3)
            options = _options(options, **sampling)
        if self.training:
            logging.warning("generate_spectrogram() is meant to be called in eval mode.")
        cond, coarse, lengths = self.encode(tokens, speaker=speaker, pace=pace)
        mels = self.decoder.decode(cond, coarse, lengths, options)
        return (mels, lengths) if return_lengths else mels

    @torch.no_grad()
    def generate_coarse_spectrogram(self, tokens: torch.Tensor, speaker=None, pace: float = 1.0) -> torch.Tensor:
        """FastPitch's own regression mel ``[B, n_mels, T]`` for the same tokens (the no-diffusion baseline)."""
        _, coarse, _ = self.encode(tokens, speaker=speaker, pace=pace)
        return coarse

    @classmethod
    def from_nemo(cls, path: str, map_location: str = "cpu") -> "DiffusionSpectrogramGenerator":
        """Restore a ``.nemo`` and check it holds this class (or a subclass); ValueError naming what it holds."""
        return restore_model(path, cls, map_location=map_location)

    @classmethod
    def list_available_models(cls):
        return None


def _options(options: Optional[SamplingOptions], **arguments) -> SamplingOptions:
    """``options``, or one made from the (deprecated) keyword arguments (not both)."""
    unknown = sorted(set(arguments) - {f.name for f in fields(SamplingOptions)})
    if unknown:
        raise TypeError(f"generate_spectrogram() got unexpected keyword arguments {unknown}")
    if options is None:
        return SamplingOptions(**arguments)
    given = {k: v for k, v in arguments.items() if v is not None and not (k in ("guidance_scale", "eta") and v == 0)}
    if given:
        raise ValueError(f"pass the sampling arguments either as options or as keywords, not both: {sorted(given)}")
    return options


def _rename_legacy_keys(state_dict, prefix, *args, **kwargs):
    """Load hook: ``.nemo`` files written before the decoder unit name its weights ``mel_denoiser.*`` and its buffer
    ``residual_scale``; they are the decoder's ``denoiser.*`` and ``residual_scale`` now."""
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        local = key[len(prefix):]
        for old, new in _LEGACY_KEYS:
            if local == old or (old.endswith(".") and local.startswith(old)):
                state_dict[prefix + new + local[len(old):]] = state_dict.pop(key)
                break
