"""The voice's vocoder: NeMo's ``HifiGanModel`` with exactly the generator's mel settings.

A HiFi-GAN only turns a mel into speech if it was trained on mels computed the same way (same filterbank edges,
log guard, padding value...). NeMo's stock HiFi-GAN config differs from the FastPitch/diffusion one in
``highfreq`` handling, ``pad_value`` and ``log_zero_guard_type``; :func:`check_mel_settings_match` refuses such a
pair with a message naming the differing settings rather than letting it produce noise.
"""

from typing import Any, Dict, Mapping

from omegaconf import DictConfig, OmegaConf

import nemo_distill  # noqa: F401  (registers the package's config targets)
from nemo.collections.tts.models import HifiGanModel
from nemo.core.classes import ModelPT

# Preprocessor settings that change the mel a model sees, under the names of
# ``AudioToMelSpectrogramPreprocessor``; ``FilterbankFeatures`` spells ``features`` as ``nfilt``.
MEL_KEYS = (
    "sample_rate",
    "features",
    "n_fft",
    "n_window_size",
    "n_window_stride",
    "window",
    "lowfreq",
    "highfreq",
    "log",
    "log_zero_guard_type",
    "log_zero_guard_value",
    "mag_power",
    "pad_value",
    "normalize",
    "preemph",
    "dither",
    "exact_pad",
)
_DEFAULTS = {"exact_pad": False}  # the value NeMo uses when a config leaves the key out
_ALIASES = {"nfilt": "features"}


def mel_settings(cfg: Any) -> Dict[str, Any]:
    """The mel settings of a model config (``cfg.preprocessor``) or of a preprocessor config itself."""
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(cfg, Mapping):
        raise TypeError(f"expected a model or preprocessor config, got {type(cfg).__name__}")
    preprocessor = cfg.get("preprocessor", cfg)
    if not isinstance(preprocessor, Mapping) or "_target_" not in preprocessor:
        raise ValueError("the config has no preprocessor section: cannot tell its mel settings")
    settings = {_ALIASES.get(key, key): value for key, value in preprocessor.items()}
    out = {key: settings.get(key, _DEFAULTS.get(key)) for key in MEL_KEYS}
    if out["highfreq"] is None and out["sample_rate"] is not None:  # NeMo's default: up to Nyquist
        out["highfreq"] = out["sample_rate"] / 2
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    return a == b


def check_mel_settings_match(generator_cfg: Any, other_cfg: Any, other_name: str = "vocoder") -> None:
    """Raise ``ValueError`` naming every mel setting in which ``other_cfg`` differs from ``generator_cfg``."""
    ours, theirs = mel_settings(generator_cfg), mel_settings(other_cfg)
    differences = [f"{key}: generator {ours[key]!r}, {other_name} {theirs[key]!r}"
                   for key in MEL_KEYS if not _same(ours[key], theirs[key])]
    if differences:
        raise ValueError(
            f"the {other_name}'s mel settings differ from the generator's ({'; '.join(differences)}); "
            f"train the {other_name} with the generator's preprocessor (conf/hifigan.yaml does)"
        )


def load_vocoder(path: str, map_location: str = "cpu") -> HifiGanModel:
    """Restore a HiFi-GAN ``.nemo``; another class is a ``TypeError`` naming what the file holds."""
    model = ModelPT.restore_from(path, map_location=map_location)
    if not isinstance(model, HifiGanModel):
        raise TypeError(f"{path} holds a {type(model).__name__}, not a HifiGanModel vocoder")
    return model.eval()
