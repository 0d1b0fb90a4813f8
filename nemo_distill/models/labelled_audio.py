"""Labelled 1-s clips as diffusion data: NeMo's classification dataset and the normalised log-mel space.

Shared by the noise-conditioned classifier and the classifier-guided generator, which must see the same ``x0``.
"""

import json
from typing import Dict, Sequence

import torch
from omegaconf import DictConfig
from torch import nn

from nemo.core.classes.common import safe_instantiate

__all__ = ["LogMelSpace", "check_manifest_labels", "label_loader", "mel_settings_mismatch"]

MEL_KEYS = ("sample_rate", "n_mels", "frames", "mel_mean", "mel_scale")


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


def mel_settings_mismatch(ours: Dict, theirs: Dict) -> Dict[str, tuple]:
    """``{key: (ours, theirs)}`` for every mel setting (``MEL_KEYS`` and ``preprocessor``) that differs."""
    return {key: (ours.get(key), theirs.get(key)) for key in (*MEL_KEYS, "preprocessor")
            if ours.get(key) != theirs.get(key)}


class LogMelSpace(nn.Module):
    """Audio ``[B, samples]`` -> ``x0 = (log_mel - mel_mean) / mel_scale`` ``[B, n_mels, frames]`` through NeMo's
    preprocessor (``preprocessor``: its config); :meth:`log_mel` maps ``x0`` back."""

    def __init__(self, preprocessor: DictConfig, frames: int, mel_mean: float, mel_scale: float):
        super().__init__()
        self.preprocessor = safe_instantiate(preprocessor)
        self.frames, self.mel_mean, self.mel_scale = int(frames), float(mel_mean), float(mel_scale)

    def forward(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> torch.Tensor:
        mel, _ = self.preprocessor(input_signal=audio, length=audio_lens)
        if mel.shape[-1] < self.frames:
            mel = nn.functional.pad(mel, (0, self.frames - mel.shape[-1]), value=self.mel_mean)
        return self.normalize(mel[..., : self.frames])

    def normalize(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, n_mels, T]`` -> ``x0``; the inverse of :meth:`log_mel`."""
        return (log_mel - self.mel_mean) / self.mel_scale

    def log_mel(self, x0: torch.Tensor) -> torch.Tensor:
        return self.mel_mean + self.mel_scale * x0
