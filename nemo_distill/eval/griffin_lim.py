"""Griffin-Lim: log-mel back to audio with no trained vocoder (a fallback and a vocoder-independent check)."""

import numpy as np

__all__ = ["griffin_lim"]


def griffin_lim(log_mel: np.ndarray, preprocessor_cfg, n_iter: int = 32) -> np.ndarray:
    """``log_mel`` ``[n_mels, T]`` computed by NeMo's ``AudioToMelSpectrogramPreprocessor`` with ``preprocessor_cfg``
    (``log_zero_guard_type: add``, slaney mel filters) -> waveform ``[samples]`` (float32)."""
    import librosa

    cfg = preprocessor_cfg
    if cfg.get("log_zero_guard_type", "add") != "add" or not cfg.get("log", True):
        raise ValueError("griffin_lim expects log-mel features with log_zero_guard_type 'add'")
    magnitude_mel = np.maximum(np.exp(log_mel.astype(np.float64)) - float(cfg.get("log_zero_guard_value", 1e-5)), 0.0)
    power = float(cfg.get("mag_power", 2.0))
    audio = librosa.feature.inverse.mel_to_audio(
        magnitude_mel, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.n_window_stride,
        win_length=cfg.n_window_size, window=cfg.get("window", "hann"), power=power, n_iter=n_iter,
        fmin=cfg.get("lowfreq", 0) or 0, fmax=cfg.get("highfreq", None), norm="slaney", htk=False,
    )
    peak = np.abs(audio).max()
    return (audio / peak * 0.9 if peak > 0 else audio).astype(np.float32)
