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

"""TensorBoard samples: mel images and Griffin-Lim audio of one utterance, as every model of the package logs them."""

from typing import Dict, Optional

import torch

__all__ = ["log_mels_and_audio"]


def log_mels_and_audio(logger, step: int, mels: Dict[str, torch.Tensor], audio_name: Optional[str],
                       preprocessor_cfg, sample_rate: int) -> bool:
    """Log each mel ``[n_mels, T]`` of ``mels`` as the image ``val_mel_<name>`` and, with ``audio_name``, that mel's
    Griffin-Lim audio as ``val_audio_<audio_name>_griffin_lim``; nothing without a TensorBoard logger (returns
    whether anything was logged)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    if not isinstance(logger, TensorBoardLogger):
        return False
    from nemo.collections.tts.parts.utils.helpers import plot_spectrogram_to_numpy
    from nemo_distill.parts.griffin_lim import griffin_lim

    writer = logger.experiment
    for name, mel in mels.items():
        writer.add_image(f"val_mel_{name}", plot_spectrogram_to_numpy(mel.float().cpu().numpy()), step,
                         dataformats="HWC")
    if audio_name is not None:
        audio = griffin_lim(mels[audio_name].float().cpu().numpy(), preprocessor_cfg)
        writer.add_audio(f"val_audio_{audio_name}_griffin_lim", torch.from_numpy(audio), step, sample_rate=sample_rate)
    return True
