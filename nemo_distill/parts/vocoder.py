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

"""The vocoder of every path, named the same way everywhere (``--vocoder``):

* ``pretrained`` (the default): jik876's HiFi-GAN V1 "universal" generator as a NeMo ``HifiGanModel``, converted
  for the voice's mel settings on first use (:mod:`nemo_distill.parts.pretrained_hifigan`); ``pretrained:ljspeech``
  takes the LJSpeech generator instead;
* a path: a NeMo HiFi-GAN ``.nemo`` (``scripts/train_vocoder.py``, or a fine-tuned one);
* ``griffin-lim``: no network (the spoken-digit clips' path, and a calibration row of the benchmarks).

Every HiFi-GAN is checked against the voice's mel settings before use; a mismatch is one error naming the settings.
"""

from typing import Any, Callable, Optional, Tuple

import numpy as np
import torch

from nemo_distill.parts.mel_settings import check_mel_settings_match

__all__ = ["GRIFFIN_LIM", "PRETRAINED", "load_vocoder", "resolve_vocoder", "vocoder_function"]

PRETRAINED = "pretrained"
GRIFFIN_LIM = "griffin-lim"


def resolve_vocoder(spec: str, generator_cfg: Any, cache_dir: Optional[str] = None) -> Optional[str]:
    """The ``.nemo`` path ``spec`` stands for (``pretrained[:weights]``: the cached conversion for the voice's mel
    settings, made on first use), or ``None`` for Griffin-Lim."""
    from nemo_distill.parts.pretrained_hifigan import pretrained_vocoder_path

    if spec == GRIFFIN_LIM:
        return None
    if spec == PRETRAINED or spec.startswith(PRETRAINED + ":"):
        weights = spec.partition(":")[2] or "universal"
        return pretrained_vocoder_path(generator_cfg.preprocessor, weights=weights, cache_dir=cache_dir)
    return spec


def load_vocoder(spec: str, generator_cfg: Any, role: str = "--vocoder", cache_dir: Optional[str] = None,
                 for_training: bool = False):
    """The ``HifiGanModel`` ``spec`` names, checked against ``generator_cfg``'s mel settings, in eval mode.

    A cached pretrained conversion that fails its integrity check is named and converted again (it is derived
    data); any other bad file is one error naming ``role`` and the file. For inference (``for_training`` false) the
    discriminators (70.7M parameters, untrained in the pretrained model) are freed: synthesis needs the generator."""
    from nemo.collections.tts.models import HifiGanModel
    from nemo.utils import logging

    from nemo_distill.parts.nemo_integrity import CorruptModelFileError
    from nemo_distill.parts.pretrained_hifigan import pretrained_vocoder_path
    from nemo_distill.parts.restore import restore_model

    path = resolve_vocoder(spec, generator_cfg, cache_dir=cache_dir)
    if path is None:
        raise ValueError(f"{role} {spec}: Griffin-Lim is not a HiFi-GAN model")
    try:
        vocoder = restore_model(path, HifiGanModel, role=role)
    except CorruptModelFileError as error:
        if path == spec:
            raise
        logging.warning(f"{error}: converting the pretrained vocoder again")
        path = pretrained_vocoder_path(generator_cfg.preprocessor, weights=spec.partition(":")[2] or "universal",
                                       cache_dir=cache_dir, rebuild=True)
        vocoder = restore_model(path, HifiGanModel, role=role)
    check_mel_settings_match(generator_cfg, vocoder.cfg)
    if not for_training:
        vocoder.mpd = vocoder.msd = None
    return vocoder


def vocoder_function(spec: str, generator_cfg: Any, cache_dir: Optional[str] = None
                     ) -> Tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """``(name, vocode)``: ``vocode`` turns a log-mel ``[n_mels, T]`` (numpy or torch) into audio ``[samples]``
    (float32 numpy); ``name`` is ``hifigan`` or ``griffin_lim`` (the benchmarks' column names)."""
    if spec == GRIFFIN_LIM:
        from nemo_distill.parts.griffin_lim import griffin_lim

        preprocessor_cfg = generator_cfg.preprocessor
        return "griffin_lim", lambda mel: griffin_lim(_as_tensor(mel).numpy(), preprocessor_cfg)
    vocoder = load_vocoder(spec, generator_cfg, cache_dir=cache_dir)

    @torch.no_grad()
    def vocode(mel) -> np.ndarray:
        return vocoder.convert_spectrogram_to_audio(spec=_as_tensor(mel)[None])[0].numpy()

    return "hifigan", vocode


def _as_tensor(mel) -> torch.Tensor:
    """A log-mel ``[n_mels, T]`` (numpy, or a torch tensor on any device, with or without grad) as a float32 CPU
    tensor."""
    return torch.as_tensor(mel).detach().to("cpu", torch.float32)
