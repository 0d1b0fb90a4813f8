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
    python -m nemo_distill.eval.deploy_worker onnx  --repo REPO --no-sampler ...       # FastPitch's mel -> vocoder
    python -m nemo_distill.eval.deploy_worker torch --model M.nemo --vocoder V.nemo --steps K --texts ... --out ...
    python -m nemo_distill.eval.deploy_worker torch --fastpitch F.nemo --vocoder V.nemo --texts ... --out ...

A fresh process per system makes the memory figures mean something: the peak resident set of a process that
loads and runs only that system (``VmHWM``), and how much of it the model and its inference add on top of the
imports. The ``onnx`` system imports onnxruntime and numpy only (:mod:`nemo_distill.runtime.onnx_client`); the ``torch`` system
imports NeMo, as a PyTorch deployment would. Same texts, same noise (drawn with numpy from ``seed + i``, the
client's recipe), batch 1, one untimed warm-up utterance. Each utterance's time is split into the front-end (FastPitch:
text to durations, pitch, its own coarse mel and the decoder's conditioning), the sampler (the diffusion decoder) and
the vocoder. ``--no-sampler`` runs the repository's front-end and vocoder graphs alone, FastPitch's own mel into the
vocoder: FastPitch + HiFi-GAN with the same graphs. Writes a JSON result, the mels and the audio (``.npz``).
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
        # timed apart: the FastPitch front-end graph, the sampler's (what the diffusion adds) and the vocoder's
        steps = {step["model"]: step for step in manifest["pipeline"]}
        self.frontend_step, self.sampler_step = steps["frontend"], steps["sampler"]
        self.vocoder_step = steps["vocoder"]
        self.use_sampler = not args.no_sampler

    def tokens(self, text):
        return self.pipeline.tokenizer.encode_batch([text])

    def mel(self, tokens, noise):
        """``(mel [1, n_mels, T], T, front-end seconds)``."""
        start = time.perf_counter()
        tensors = self.pipeline.run_steps({"TOKENS": tokens, "NOISE": noise}, [self.frontend_step])
        frontend_s = time.perf_counter() - start
        if not self.use_sampler:
            return tensors["coarse_mel"], int(tensors["MEL_LENS"][0]), frontend_s
        tensors = self.pipeline.run_steps(tensors, [self.sampler_step])
        return tensors["MEL"], int(tensors["MEL_LENS"][0]), frontend_s

    def audio(self, mel):
        return self.pipeline.run_steps({"MEL": mel}, [self.vocoder_step])["AUDIO"][0, 0]


class TorchSystem:
    """A ``DiffusionSpectrogramGenerator`` (``--model``, ``--steps``) or a plain NeMo FastPitch (``--fastpitch``), and
    the HiFi-GAN ``--vocoder``, in PyTorch."""

    def __init__(self, args):
        import torch

        torch.set_num_threads(args.threads)
        from nemo.collections.tts.models import FastPitchModel
        from nemo_distill.models import DiffusionSpectrogramGenerator
        from nemo_distill.parts.restore import restore_model
        from nemo_distill.parts.vocoder import load_vocoder

        self.torch, self.steps = torch, args.steps
        self.imported_rss = _rss_mb()
        start = time.perf_counter()
        self.plain_fastpitch = bool(args.fastpitch)
        if self.plain_fastpitch:
            self.model = restore_model(args.fastpitch, FastPitchModel)
        else:
            self.model = DiffusionSpectrogramGenerator.from_nemo(args.model)
        self.vocoder = load_vocoder(args.vocoder, self.model.cfg)
        self.load_s = time.perf_counter() - start
        self.sample_rate, self.hop = int(self.model.cfg.sample_rate), int(self.model.cfg.preprocessor.n_window_stride)
        self.n_mels = int(self.model.cfg.n_mel_channels)
        self.max_frames = int(self.model.fastpitch.max_token_duration)  # FastPitchModule's, in both models

    def tokens(self, text):
        if self.plain_fastpitch:
            return self.model.parse(text, normalize=True).numpy()
        return self.model.parse_batch([text])[0].numpy()

    def mel(self, tokens, noise):
        """``(mel [1, n_mels, T], T, front-end seconds)``."""
        from nemo_distill.diffusion import SamplingOptions

        tokens = self.torch.from_numpy(tokens)
        with self.torch.inference_mode():
            start = time.perf_counter()
            if self.plain_fastpitch:
                mel = self.model.generate_spectrogram(tokens=tokens)
                return mel.numpy(), mel.shape[-1], time.perf_counter() - start
            cond, coarse, lengths = self.model.encode(tokens)
            frontend_s = time.perf_counter() - start
            options = SamplingOptions(steps=self.steps, noise=self.torch.from_numpy(noise))
            mel = self.model.decoder.decode(cond, coarse, lengths, options)
        return mel.numpy(), int(lengths[0]), frontend_s

    def audio(self, mel):
        with self.torch.inference_mode():
            return self.vocoder.convert_spectrogram_to_audio(spec=self.torch.from_numpy(mel))[0].numpy()


def measure(system, texts, seed: int, starting_noise):
    def run(i, text):
        tokens = system.tokens(text)
        noise = starting_noise(tokens, system.n_mels, system.max_frames, seed + i)
        start = time.perf_counter()
        mel, length, frontend_s = system.mel(tokens, noise)
        middle = time.perf_counter()
        audio = system.audio(mel[..., :length])
        end = time.perf_counter()
        times = {"frontend": frontend_s, "sampler": middle - start - frontend_s, "vocoder": end - middle}
        return mel[0, :, :length], times, length * system.hop / system.sample_rate, audio

    run(0, texts[0])  # warm-up: first-call allocations and lazy initialisation are not what a server sees
    mels, audios, audio_s = [], [], 0.0
    totals = {"frontend": 0.0, "sampler": 0.0, "vocoder": 0.0}
    for i, text in enumerate(texts):
        mel, times, seconds, audio = run(i, text)
        mels.append(mel)
        audios.append(audio[: mel.shape[-1] * system.hop])
        audio_s += seconds
        totals = {part: totals[part] + times[part] for part in totals}
    n, total_s = len(texts), sum(totals.values())
    return mels, audios, {
        "load_s": system.load_s,
        **{f"{part}_ms_per_utt": 1000 * seconds / n for part, seconds in totals.items()},
        "mel_ms_per_utt": 1000 * (totals["frontend"] + totals["sampler"]) / n,
        "total_ms_per_utt": 1000 * total_s / n,
        "rtf": total_s / audio_s,
        "share": {part: seconds / total_s for part, seconds in totals.items()},
        "audio_s": audio_s,
        "rss_after_imports_mb": system.imported_rss,
        "peak_rss_mb": _rss_mb(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("system", choices=["onnx", "torch"])
    parser.add_argument("--repo", help="onnx: model repository from scripts/export.py")
    parser.add_argument("--model", help="torch: DiffusionSpectrogramGenerator .nemo")
    parser.add_argument("--fastpitch", help="torch: a plain NeMo FastPitch .nemo instead of --model")
    parser.add_argument("--no-sampler", action="store_true", help="onnx: FastPitch's mel straight to the vocoder")
    parser.add_argument("--vocoder", help="torch: HiFi-GAN .nemo (or pretrained)")
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
