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

"""A tiny TTS data set made on the fly: harmonic tones standing in for speech, with texts, as NeMo manifests."""

import json
import os

import numpy as np
import soundfile as sf

TEXTS = [
    "hello world.",
    "the quick brown fox jumps.",
    "a tiny test sentence.",
    "diffusion makes speech slowly.",
    "distillation makes it fast!",
    "one more line, for the batch.",
]


def write_tone_corpus(root: str, sample_rate: int = 22050, seed: int = 0):
    """Writes ``root/wavs/*.wav`` and ``root/manifest.json``; returns the manifest path."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "wavs"), exist_ok=True)
    manifest = os.path.join(root, "manifest.json")
    with open(manifest, "w") as f:
        for i, text in enumerate(TEXTS):
            duration = 0.6 + 0.08 * len(text.split())
            t = np.arange(int(duration * sample_rate)) / sample_rate
            f0 = 110 + 40 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t) + rng.uniform(0, 60)
            phase = 2 * np.pi * np.cumsum(f0) / sample_rate
            audio = sum(np.sin(k * phase) / k for k in range(1, 6)) * np.hanning(len(t)) ** 0.2
            audio = (0.3 * audio / np.abs(audio).max()).astype(np.float32)
            path = os.path.join(root, "wavs", f"tone_{i}.wav")
            sf.write(path, audio, sample_rate)
            f.write(json.dumps({"audio_filepath": path, "text": text, "normalized_text": text,
                                "duration": len(t) / sample_rate, "speaker": 0}) + "\n")
    return manifest


def load_script(name: str):
    """``scripts/<name>.py`` as a module, so that its ``main(argv)`` runs in the test's process (one NeMo import
    fewer than a subprocess; the scripts' own process is tested where it is the point)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_benchmark_script():
    """``scripts/benchmark.py`` as a module (its ``main`` runs in the test's process)."""
    return load_script("benchmark")
