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

"""Mel settings: which preprocessor settings change the mel a model sees, and the one check that two models agree.

A HiFi-GAN only turns a mel into speech if it was trained on mels computed the same way (same filterbank edges,
log guard, padding value...); a FastPitch front-end only initialises a diffusion voice with its own mel settings; a
classifier only guides a generator in the same log-mel space. NeMo's stock HiFi-GAN config differs from the
FastPitch/diffusion one in ``highfreq`` handling, ``pad_value`` and ``log_zero_guard_type``:
:func:`check_mel_settings_match` refuses such a pair with a message naming the differing settings rather than
letting it produce noise.
"""

from typing import Any, Dict, Mapping, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf

__all__ = ["MEL_KEYS", "check_mel_settings_match", "mel_settings", "mel_settings_mismatch"]

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


def mel_settings_mismatch(ours: Mapping, theirs: Mapping, keys: Sequence[str] = MEL_KEYS) -> Dict[str, Tuple]:
    """``{key: (ours, theirs)}`` for every key of ``keys`` whose values differ (numbers to a relative 1e-9)."""
    return {key: (ours.get(key), theirs.get(key)) for key in keys if not _same(ours.get(key), theirs.get(key))}


def check_mel_settings_match(generator_cfg: Any, other_cfg: Any, other_name: str = "vocoder") -> None:
    """Raise ``ValueError`` naming every mel setting in which ``other_cfg`` differs from ``generator_cfg``."""
    differences = mel_settings_mismatch(mel_settings(generator_cfg), mel_settings(other_cfg))
    if differences:
        details = "; ".join(f"{key}: generator {a!r}, {other_name} {b!r}" for key, (a, b) in differences.items())
        raise ValueError(
            f"the {other_name}'s mel settings differ from the generator's ({details}); "
            f"train the {other_name} with the generator's preprocessor (conf/hifigan.yaml does)"
        )
