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

"""One system of the deployment benchmark, measured alone in its own process.

    python -m nemo_distill.eval.deploy_worker onnx  --repo REPO --texts texts.json --out result.json
    python -m nemo_distill.eval.deploy_worker torch --model M.nemo --vocoder V.nemo --steps K --texts ... --out ...

A fresh process per system makes the memory figures mean something: the peak resident set of a process that
loads and runs only that system (``VmHWM``), and how much of it the model and its inference add on top of the
imports. The ``onnx`` system imports onnxruntime and numpy only (:mod:`nemo_distill.runtime.onnx_client`); the ``torch`` system
imports NeMo, as a PyTorch deployment would. Same texts, same noise (drawn with numpy from ``seed + i``, the
client's recipe), batch 1, one untimed warm-up utterance. Writes a JSON result, the mels and the audio (``.npz``).
"""

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

from nemo_distill.runtime import onnx_client


def _rss_mb() -> float:
    """Peak resident set of this process so far, MB. ``VmHWM`` of ``/proc/self/status``, not ``ru_maxrss``: Linux
    carries ``ru_maxrss`` over ``exec`` from the forked parent (here a process that imported NeMo)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # KiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class OnnxSystem:
    def __init__(self, args, client):
        self.imported_rss = _rss_mb()
        start = time.perf_counter()
        self.pipeline = client.OnnxTTSPipeline(args.repo, threads=args.threads)
        self.load_s = time.perf_counter() - start
        manifest = self.pipeline.manifest
        self.sample_rate, self.hop = manifest["sample_rate"], manifest["hop_length"]
        self.n_mels, self.max_frames = manifest["n_mels"], manifest["max_frames_per_token"]
        # timed apart: the ensemble's steps up to the mel, and the vocoder's
        self.vocoder_step = next(step for step in manifest["pipeline"] if step["model"] == "vocoder")
        self.mel_steps = [step for step in manifest["pipeline"] if step is not self.vocoder_step]
        # the FastPitch front-end graph is timed apart too: what the diffusion sampler adds is the rest
        self.frontend_steps = [step for step in self.mel_steps if step["model"] == "frontend"]
        self.frontend_s = 0.0

    def tokens(self, text):
        return self.pipeline.tokenizer.encode_batch([text])

    def mel(self, tokens, noise):
        start = time.perf_counter()
        tensors = self.pipeline.run_steps({"TOKENS": tokens, "NOISE": noise}, self.frontend_steps)
        self.frontend_s += time.perf_counter() - start
        tensors = self.pipeline.run_steps(tensors, [s for s in self.mel_steps if s not in self.frontend_steps])
        return tensors["MEL"], int(tensors["MEL_LENS"][0])

    def audio(self, mel):
        return self.pipeline.run_steps({"MEL": mel}, [self.vocoder_step])["AUDIO"][0, 0]


class TorchSystem:
    def __init__(self, args):
        import torch

        torch.set_num_threads(args.threads)
        from nemo.collections.tts.models import HifiGanModel
        from nemo_distill.models import DiffusionSpectrogramGenerator
        from nemo_distill.parts.restore import restore_model

        self.torch, self.steps = torch, args.steps
        self.imported_rss = _rss_mb()
        start = time.perf_counter()
        self.model = DiffusionSpectrogramGenerator.from_nemo(args.model)
        self.vocoder = restore_model(args.vocoder, HifiGanModel)
        self.load_s = time.perf_counter() - start
        self.sample_rate, self.hop = int(self.model.cfg.sample_rate), int(self.model.cfg.preprocessor.n_window_stride)
        self.n_mels = int(self.model.cfg.n_mel_channels)
        self.max_frames = int(self.model.fastpitch.max_token_duration)

    def tokens(self, text):
        return self.model.parse_batch([text])[0].numpy()

    def mel(self, tokens, noise):
        with self.torch.inference_mode():
            mel, lengths = self.model.generate_spectrogram(
                self.torch.from_numpy(tokens), steps=self.steps, noise=self.torch.from_numpy(noise), return_lengths=True)
        return mel.numpy(), int(lengths[0])

    def audio(self, mel):
        with self.torch.inference_mode():
            return self.vocoder.convert_spectrogram_to_audio(spec=self.torch.from_numpy(mel))[0].numpy()


def measure(system, texts, seed: int, starting_noise):
    def run(i, text):
        tokens = system.tokens(text)
        noise = starting_noise(tokens, system.n_mels, system.max_frames, seed + i)
        start = time.perf_counter()
        mel, length = system.mel(tokens, noise)
        middle = time.perf_counter()
        audio = system.audio(mel)
        end = time.perf_counter()
        return mel[0, :, :length], middle - start, end - middle, length * system.hop / system.sample_rate, audio

    run(0, texts[0])  # warm-up: first-call allocations and lazy initialisation are not what a server sees
    if hasattr(system, "frontend_s"):
        system.frontend_s = 0.0
    mels, audios, mel_s, vocoder_s, audio_s = [], [], 0.0, 0.0, 0.0
    for i, text in enumerate(texts):
        mel, t_mel, t_vocoder, seconds, audio = run(i, text)
        mels.append(mel)
        audios.append(audio[: mel.shape[-1] * system.hop])
        mel_s, vocoder_s, audio_s = mel_s + t_mel, vocoder_s + t_vocoder, audio_s + seconds
    n = len(texts)
    return mels, audios, {
        "load_s": system.load_s,
        "mel_ms_per_utt": 1000 * mel_s / n,
        "vocoder_ms_per_utt": 1000 * vocoder_s / n,
        "total_ms_per_utt": 1000 * (mel_s + vocoder_s) / n,
        "rtf": (mel_s + vocoder_s) / audio_s,
        "audio_s": audio_s,
        "rss_after_imports_mb": system.imported_rss,
        "peak_rss_mb": _rss_mb(),
        **({"frontend_ms_per_utt": 1000 * system.frontend_s / n} if getattr(system, "frontend_steps", None) else {}),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("system", choices=["onnx", "torch"])
    parser.add_argument("--repo", help="onnx: model repository from scripts/export.py")
    parser.add_argument("--model", help="torch: DiffusionSpectrogramGenerator .nemo")
    parser.add_argument("--vocoder", help="torch: HiFi-GAN .nemo")
    parser.add_argument("--steps", type=int, help="torch: sampling steps")
    parser.add_argument("--texts", required=True, help="JSON list of texts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True, help="result .json (the mels go beside it as .npz)")
    args = parser.parse_args(argv)
    with open(args.texts) as f:
        texts = json.load(f)
    system = OnnxSystem(args, onnx_client) if args.system == "onnx" else TorchSystem(args)
    mels, audios, result = measure(system, texts, args.seed, onnx_client.starting_noise)
    result["imports"] = sorted(m for m in ("torch", "nemo", "onnxruntime") if m in sys.modules)
    np.savez(os.path.splitext(args.out)[0] + ".npz", *mels)
    np.savez(os.path.splitext(args.out)[0] + "_audio.npz", *audios)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
