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

"""The vocoders on recordings: each recording's mel (NeMo's preprocessor, a given mel convention) through each
vocoder, judged by the same recogniser and perceptual judge as the recordings themselves (``scripts/
benchmark_vocoder.py``). It measures what a vocoder costs a voice before any model makes a mel: the ceiling of
every TTS row vocoded by it, and its CPU time per second of audio."""

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from nemo_distill.eval.tts_metrics import DNSMOS_SCORES, word_error_rate

__all__ = ["VocoderSystem", "format_vocoder_table", "plot_vocoder_results", "recording_mel",
           "run_vocoder_benchmark"]


@dataclass
class VocoderSystem:
    """One row: ``vocode`` turns the recording's log-mel ``[n_mels, T]`` (made with ``preprocessor``, a NeMo
    ``AudioToMelSpectrogramPreprocessor`` config) into audio; no ``vocode``: the recording itself. ``parity_to``:
    the row whose audio this one's is compared with sample by sample (an int8 graph against its float graph)."""

    name: str
    preprocessor: Any = None
    vocode: Optional[Callable[[np.ndarray], np.ndarray]] = None
    parity_to: Optional[str] = None
    note: str = ""


def recording_mel(audio: np.ndarray, preprocessor) -> np.ndarray:
    """``audio`` ``[samples]`` -> log-mel ``[n_mels, T]`` by an instantiated NeMo preprocessor."""
    import torch

    signal = torch.as_tensor(np.asarray(audio, dtype=np.float32))[None]
    with torch.no_grad():
        mel, length = preprocessor(input_signal=signal, length=torch.tensor([signal.shape[1]]))
    return mel[0, :, : int(length[0])].numpy()


def run_vocoder_benchmark(rows: Sequence[Dict], systems: Sequence[VocoderSystem], sample_rate: int,
                          load_audio: Callable[[str], np.ndarray], judge=None, perceptual_judge=None,
                          audio_dir: Optional[str] = None, audio_examples: int = 3,
                          progress: Callable = lambda iterable, **kw: iterable) -> Dict[str, Dict]:
    """Every system on every manifest row (``audio_filepath``, ``text``): WER (``judge.transcribe``), the
    perceptual judge's mean scores, vocoder CPU seconds per second of audio (``time.process_time`` around
    ``vocode``: every thread of this process), and for a ``parity_to`` row the largest sample difference and the
    SNR (dB) of its audio against that row's. The first ``audio_examples`` wavs of each row go to ``audio_dir``."""
    from nemo.core.classes.common import safe_instantiate

    preprocessors: Dict[int, Any] = {}
    results, audios = {}, {}
    references = [row["text"] for row in rows]
    for system in systems:
        hypotheses, scores, cpu, seconds, outputs, parity = [], [], 0.0, 0.0, [], []
        if system.vocode is not None and id(system.preprocessor) not in preprocessors:
            preprocessors[id(system.preprocessor)] = safe_instantiate(system.preprocessor).eval()
        for i, row in enumerate(progress(rows, desc=system.name, leave=False)):
            audio = load_audio(row["audio_filepath"])
            if system.vocode is not None:
                mel = recording_mel(audio, preprocessors[id(system.preprocessor)])
                start = time.process_time()
                audio = np.asarray(system.vocode(mel), dtype=np.float32).reshape(-1)
                cpu += time.process_time() - start
            seconds += len(audio) / sample_rate
            outputs.append(audio)
            if system.parity_to is not None:
                parity.append(_parity(audio, audios[system.parity_to][i]))
            if judge is not None:
                hypotheses.append(judge.transcribe(audio, sample_rate))
            if perceptual_judge is not None:
                scores.append(perceptual_judge.score(audio, sample_rate))
            if audio_dir and i < audio_examples:
                import soundfile as sf

                os.makedirs(os.path.join(audio_dir, system.name), exist_ok=True)
                sf.write(os.path.join(audio_dir, system.name, f"{i:02d}.wav"), audio, sample_rate)
        audios[system.name] = outputs
        result: Dict[str, Any] = {"utterances": len(rows), "audio_s": seconds, "note": system.note}
        if system.vocode is not None:
            result["cpu_s_per_audio_s"] = cpu / seconds
        if judge is not None:
            result["wer"] = word_error_rate(references, hypotheses)
            result["transcripts"] = hypotheses
        if scores:
            result["dnsmos"] = {name: float(np.mean([s[name] for s in scores])) for name in DNSMOS_SCORES}
        if parity:
            result["parity_to"] = system.parity_to
            result["max_abs_diff"] = float(max(p[0] for p in parity))
            result["snr_db"] = float(np.mean([p[1] for p in parity]))
        results[system.name] = result
    return results


def _parity(audio: np.ndarray, reference: np.ndarray):
    """(max |audio - reference|, SNR of the reference over the difference in dB) on their common length."""
    n = min(len(audio), len(reference))
    difference = audio[:n] - reference[:n]
    noise = float(np.mean(difference ** 2))
    return float(np.abs(difference).max()), 10 * np.log10(float(np.mean(reference[:n] ** 2)) / max(noise, 1e-20))


def _cell(value, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def format_vocoder_table(results: Dict[str, Dict], caption: str) -> str:
    """Markdown: WER, DNSMOS SIG/BAK/OVRL/P.808, CPU s per s of audio, parity (for quantised rows)."""
    lines = [f"_{caption}_", "",
             "| audio | WER | SIG | BAK | OVRL | P.808 | CPU s per s of audio | parity: max abs / SNR dB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, r in results.items():
        dnsmos = r.get("dnsmos", {})
        parity = (f"{r['max_abs_diff']:.4f} / {r['snr_db']:.1f} (to {r['parity_to']})" if "parity_to" in r else "")
        label = f"{name} ({r['note']})" if r.get("note") else name
        cells = [label, _cell(r.get("wer"), 3), *[_cell(dnsmos.get(k), 2) for k in DNSMOS_SCORES],
                 _cell(r.get("cpu_s_per_audio_s"), 3), parity]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_vocoder_results(results: Dict[str, Dict], path: str) -> None:
    """Bars: DNSMOS P.808 and OVRL, WER, CPU seconds per second of audio, one group per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    panels = [("P.808 (DNSMOS)", lambda r: r.get("dnsmos", {}).get("p808")),
              ("OVRL (DNSMOS)", lambda r: r.get("dnsmos", {}).get("ovrl")),
              ("WER (Whisper tiny.en)", lambda r: r.get("wer")),
              ("CPU s per s of audio", lambda r: r.get("cpu_s_per_audio_s"))]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 0.45 * len(names) + 1.5), sharey=True)
    positions = np.arange(len(names))
    for ax, (title, value) in zip(axes, panels):
        values = [value(results[n]) for n in names]
        ax.barh(positions, [v if v is not None else 0 for v in values], color="tab:blue")
        for y, v in zip(positions, values):
            if v is not None:
                ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
        ax.set_title(title, fontsize=9)
    axes[0].set_yticks(positions)
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
