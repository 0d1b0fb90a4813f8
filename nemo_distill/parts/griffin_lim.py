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

"""Griffin-Lim: log-mel back to audio with no trained vocoder (a fallback and a vocoder-independent check)."""

import numpy as np

__all__ = ["MAX_LOG_MEL", "griffin_lim"]

MAX_LOG_MEL = 4.0


def griffin_lim(log_mel: np.ndarray, preprocessor_cfg, n_iter: int = 32) -> np.ndarray:
    """``log_mel`` ``[n_mels, T]`` computed by NeMo's ``AudioToMelSpectrogramPreprocessor`` with ``preprocessor_cfg``
    (log guard ``add``: log(x + guard), or ``clamp``: log(max(x, guard)); slaney mel filters) -> waveform
    ``[samples]`` (float32). Window and hop come from ``n_window_size``/``n_window_stride`` (samples, the TTS configs)
    or ``window_size``/``window_stride`` (seconds)."""
    import librosa

    cfg = preprocessor_cfg
    guard_type = cfg.get("log_zero_guard_type", "add")
    if guard_type not in ("add", "clamp") or not cfg.get("log", True):
        raise ValueError(f"griffin_lim expects log-mel features with log_zero_guard_type 'add' or 'clamp', got "
                         f"{guard_type!r} (log {cfg.get('log', True)})")
    guard = float(cfg.get("log_zero_guard_value", 1e-5))
    # a speech log-mel lies below ~3; an untrained or diverged generator can emit far larger values, on which
    # librosa's NNLS mel inversion crawls for minutes: clip to [log(guard), MAX_LOG_MEL] first
    log_mel = np.clip(np.nan_to_num(log_mel.astype(np.float64), nan=np.log(guard)), np.log(guard), MAX_LOG_MEL)
    magnitude_mel = np.maximum(np.exp(log_mel) - (guard if guard_type == "add" else 0.0), 0.0)
    power = float(cfg.get("mag_power", 2.0))
    hop = cfg.get("n_window_stride") or int(round(float(cfg.window_stride) * cfg.sample_rate))
    win = cfg.get("n_window_size") or int(round(float(cfg.window_size) * cfg.sample_rate))
    audio = librosa.feature.inverse.mel_to_audio(
        magnitude_mel, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=hop,
        win_length=win, window=cfg.get("window", "hann"), power=power, n_iter=n_iter,
        fmin=cfg.get("lowfreq", 0) or 0, fmax=cfg.get("highfreq", None), norm="slaney", htk=False,
    )
    peak = np.abs(audio).max()
    return (audio / peak * 0.9 if peak > 0 else audio).astype(np.float32)
