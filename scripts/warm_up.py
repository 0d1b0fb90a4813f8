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

"""Make a fresh environment ready to run (``make install`` runs it): what every first process would otherwise do
on its own, and several at once.

    python scripts/warm_up.py --part models    # NeMo and the package imported, the pretrained HiFi-GAN converted
    python scripts/warm_up.py --part runtime   # the torch-free side imported, librosa's pitch tracker compiled

Importing a module with byte-code writing on (``make`` turns it on) writes its ``.pyc``: this compiles the ~8,000
modules the project imports instead of all ~25,000 that pip installed. The pitch tracker (``librosa.pyin``, what
FastPitch's pitch cache runs) is compiled by numba on its first call into numba's cache; the pretrained HiFi-GAN is
converted for the presets' mel settings into the cache every path reads (``.venv/share/nemo_distill/``). Measured
from fresh clones on 2 cores: ``make test`` took 330 s after an install that did none of this, 263 s when run a
second time in the same clone.
"""

import argparse
import importlib
import sys

MODEL_MODULES = (
    "nemo_distill", "nemo_distill.diffusion", "nemo_distill.models", "nemo_distill.distillation",
    "nemo_distill.export.repository", "nemo_distill.eval.tts_benchmark", "nemo_distill.eval.deploy_benchmark",
    "lightning.pytorch.loggers.tensorboard", "tensorboard",
)
RUNTIME_MODULES = (
    "onnxruntime", "onnx", "tritonclient.http", "tritonclient.grpc", "faster_whisper", "librosa", "matplotlib.pyplot",
    "nbclient", "nbformat", "ipykernel.kernelapp", "ipykernel.ipkernel", "debugpy", "IPython", "pytest", "xdist",
    "hypothesis", "hydra", "setuptools",
)
PRESETS = ("diffusion_tts", "diffusion_tts_small", "diffusion_tts_tiny")  # their mel settings (one cache file each)


def warm_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
    from nemo_distill.parts.pretrained_hifigan import pretrained_vocoder_path
    from nemo_distill.utils.config import compose_config

    for preset in PRESETS:
        path = pretrained_vocoder_path(compose_config(preset).model.preprocessor)
        print("pretrained HiFi-GAN for", preset, "->", path)


def warm_runtime() -> None:
    for name in RUNTIME_MODULES:
        importlib.import_module(name)
    import librosa
    import numpy as np

    sample_rate = 22050
    tone = np.sin(2 * np.pi * 150 * np.arange(sample_rate) / sample_rate).astype(np.float32)
    librosa.pyin(tone, fmin=65, fmax=800, sr=sample_rate, frame_length=1024)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("models", "runtime"), required=True)
    args = parser.parse_args(argv)
    if sys.flags.dont_write_bytecode:  # the imports' point is their byte-code: say so when none can be written
        print("warning: byte-code writing is off (PYTHONDONTWRITEBYTECODE): nothing is compiled", file=sys.stderr)
    if args.part == "models":
        warm_models()
    else:
        warm_runtime()
    return 0


if __name__ == "__main__":
    sys.exit(main())
