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

"""Labelled 1-s clips as diffusion data: NeMo's classification dataset and the settings of their log-mel space.

Shared by the noise-conditioned classifier and the classifier-guided generator, which must see the same ``x0``
(:class:`~nemo_distill.modules.log_mel_space.LogMelSpace`).
"""

import json
from typing import Dict, Sequence

import torch
from omegaconf import DictConfig

from nemo_distill.parts.mel_settings import mel_settings_mismatch

__all__ = ["CLIP_MEL_KEYS", "check_manifest_labels", "clip_mel_mismatch", "label_loader"]

CLIP_MEL_KEYS = ("sample_rate", "n_mels", "frames", "mel_mean", "mel_scale")


def check_manifest_labels(manifest: str, labels: Sequence[str]) -> None:
    """ValueError naming the first manifest entry whose ``label`` is not one of ``labels``."""
    with open(manifest, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                label = json.loads(line).get("label")
                if label not in labels:
                    raise ValueError(f"{manifest} line {number}: label {label!r} is not one of the model's labels "
                                     f"{list(labels)}")


def label_loader(cfg: DictConfig, labels: Sequence[str], sample_rate: int, shuffle_default: bool):
    """A DataLoader of NeMo's ``AudioToClassificationLabelDataset`` over ``cfg.manifest_filepath``; batches are
    ``(audio [B, samples], audio_lens [B], label ids [B], 1s)``."""
    from nemo.collections.asr.data.audio_to_label import AudioToClassificationLabelDataset
    from nemo.collections.asr.parts.preprocessing.features import WaveformFeaturizer

    check_manifest_labels(cfg.manifest_filepath, labels)
    dataset = AudioToClassificationLabelDataset(manifest_filepath=cfg.manifest_filepath, labels=list(labels),
                                                featurizer=WaveformFeaturizer(sample_rate=int(sample_rate)),
                                                min_duration=None)
    return torch.utils.data.DataLoader(
        dataset, batch_size=int(cfg.batch_size), shuffle=bool(cfg.get("shuffle", shuffle_default)),
        collate_fn=dataset._collate_fn, num_workers=int(cfg.get("num_workers", 0)),
        drop_last=bool(cfg.get("drop_last", False)))


def clip_mel_mismatch(ours: Dict, theirs: Dict) -> Dict[str, tuple]:
    """``{key: (ours, theirs)}`` for every setting of the clips' log-mel space (``CLIP_MEL_KEYS`` and ``preprocessor``)
    that differs between two models (a classifier, a generator, a judge)."""
    return mel_settings_mismatch(ours, theirs, keys=(*CLIP_MEL_KEYS, "preprocessor"))
