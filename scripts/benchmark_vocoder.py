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

"""The vocoders on recordings: what each costs a voice before any model makes a mel
(:mod:`nemo_distill.eval.vocoder_benchmark`).

    python scripts/benchmark_vocoder.py --manifest outputs/demo/corpus/test_manifest.json \
        --calibration-manifest outputs/demo/corpus/train_manifest.json --out-dir outputs/vocoder_benchmark

Each recording's log-mel, made by NeMo's ``AudioToMelSpectrogramPreprocessor`` with the voice's settings (``--model``
a generator ``.nemo``, or by default the ``diffusion_tts`` preset's), goes through every vocoder; rows:
``recording``; ``griffin_lim`` (32 iterations, the project's); ``hifigan_<weights>`` (the pretrained HiFi-GAN of
``--vocoder pretrained``, converted for the voice's mel settings); ``hifigan_<weights>_jik876_mels`` (the same weights
on mels made the way they were trained: ``clamp`` log guard, ``exact_pad`` framing); ``hifigan_onnx`` (the first
weights' graph as ``export.py`` writes it, onnxruntime) and its int8 quantisations (``hifigan_int8_dynamic``, and
``hifigan_int8_static`` calibrated on the first mels of ``--calibration-manifest``), with their sample parity to the
float graph. Judges: Whisper tiny.en (WER) and DNSMOS (``speechmos``); CPU seconds of the vocoder per second of audio
with ``--threads`` torch / onnxruntime threads. Writes table.md, results.json, vocoders.png and the first wavs of
every row (``audio/<row>/``) to ``--out-dir``.
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch
from omegaconf import OmegaConf, open_dict
from tqdm import tqdm

from nemo_distill.eval.vocoder_benchmark import VocoderSystem, format_vocoder_table, plot_vocoder_results, \
    recording_mel, run_vocoder_benchmark
from nemo_distill.parts.griffin_lim import griffin_lim
from nemo_distill.parts.pretrained_hifigan import JIK876_CONVENTION, PRETRAINED_WEIGHTS
from nemo_distill.parts.vocoder import load_vocoder


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="NeMo manifest of recordings (audio_filepath, text)")
    parser.add_argument("--model", help="a generator .nemo: its mel settings are the voice's (default: the "
                                        "diffusion_tts preset's)")
    parser.add_argument("--weights", nargs="+", default=["universal"], choices=sorted(PRETRAINED_WEIGHTS),
                        help="pretrained generators to measure (the first also on jik876's mels and as ONNX)")
    parser.add_argument("--calibration-manifest",
                        help="recordings (not the test ones) whose mels calibrate the static int8 graph; without it "
                             "no static int8 row")
    parser.add_argument("--calibration-utterances", type=int, default=8)
    parser.add_argument("--no-onnx", action="store_true", help="no ONNX / int8 rows")
    parser.add_argument("--max-utterances", type=int, default=0, help="the first N rows of --manifest (0: all)")
    parser.add_argument("--audio-examples", type=int, default=3, help="wavs written per row")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-wer", action="store_true")
    parser.add_argument("--no-dnsmos", action="store_true")
    parser.add_argument("--out-dir", default="outputs/vocoder_benchmark")
    args = parser.parse_args(argv)
    for name in ("max_utterances", "calibration_utterances", "audio_examples"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    return args


def _manifest(path, limit=0):
    if not os.path.isfile(path):
        raise SystemExit(f"error: {path}: no such manifest")
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        raise SystemExit(f"error: {path} holds no rows")
    return rows[: limit or None]


def _voice_config(model_path):
    """The generator config whose ``preprocessor`` defines the voice's mels."""
    if model_path:
        from nemo_distill.models import DiffusionSpectrogramGenerator
        from nemo_distill.parts.restore import restore_model

        return restore_model(model_path, DiffusionSpectrogramGenerator).cfg
    from nemo_distill.utils.config import compose_config

    return compose_config("diffusion_tts", ["train_dataset=null", "validation_datasets=null", "sup_data_path=null",
                                            "pitch_mean=0", "pitch_std=1"]).model


def _with_convention(voice_cfg, convention):
    cfg = OmegaConf.create({"preprocessor": OmegaConf.to_container(voice_cfg.preprocessor, resolve=True)})
    with open_dict(cfg):
        cfg.preprocessor.update(convention)
    return cfg


def _torch_vocode(vocoder):
    @torch.no_grad()
    def vocode(mel):
        return vocoder.convert_spectrogram_to_audio(spec=torch.as_tensor(mel)[None])[0].numpy()

    return vocode


def _onnx_vocode(path, threads):
    from nemo_distill.runtime.onnx_client import onnx_session

    session = onnx_session(path, threads=threads)

    def vocode(mel):
        return session.run(None, {"spec": np.asarray(mel, dtype=np.float32)[None]})[0]

    return vocode


def systems_for(args, voice_cfg, load_audio, work_dir):
    """The rows of the table (see the module docstring)."""
    from nemo.core.classes.common import safe_instantiate

    preprocessor = voice_cfg.preprocessor
    systems = [VocoderSystem("recording"),
               VocoderSystem("griffin_lim", preprocessor, lambda mel: griffin_lim(mel, preprocessor), note="32 iter")]
    first = None
    for weights in args.weights:
        vocoder = load_vocoder(f"pretrained:{weights}", voice_cfg)
        first = first or vocoder
        systems.append(VocoderSystem(f"hifigan_{weights}", preprocessor, _torch_vocode(vocoder),
                                     note="voice's mels"))
    jik876 = _with_convention(voice_cfg, JIK876_CONVENTION)
    systems.append(VocoderSystem(f"hifigan_{args.weights[0]}_jik876_mels", jik876.preprocessor,
                                 _torch_vocode(load_vocoder(f"pretrained:{args.weights[0]}", jik876)),
                                 note="clamp, exact_pad"))
    if args.no_onnx:
        return systems
    from nemo_distill.export.quantize import quantize_int8

    float_path = os.path.join(work_dir, "vocoder.onnx")
    first.export(float_path)
    systems.append(VocoderSystem("hifigan_onnx", preprocessor, _onnx_vocode(float_path, args.threads),
                                 note="float32, onnxruntime"))
    dynamic = quantize_int8(float_path, os.path.join(work_dir, "vocoder_int8_dynamic.onnx"), "dynamic")
    systems.append(VocoderSystem("hifigan_int8_dynamic", preprocessor, _onnx_vocode(dynamic, args.threads),
                                 parity_to="hifigan_onnx", note="onnxruntime quantize_dynamic"))
    if args.calibration_manifest:
        analyser = safe_instantiate(preprocessor).eval()
        feeds = [{"spec": recording_mel(load_audio(row["audio_filepath"]), analyser)[None]}
                 for row in _manifest(args.calibration_manifest, args.calibration_utterances)]
        static = quantize_int8(float_path, os.path.join(work_dir, "vocoder_int8_static.onnx"), "static", feeds)
        systems.append(VocoderSystem("hifigan_int8_static", preprocessor, _onnx_vocode(static, args.threads),
                                     parity_to="hifigan_onnx",
                                     note=f"QDQ, calibrated on {len(feeds)} training recordings"))
    return systems


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = _manifest(args.manifest, args.max_utterances)
    try:
        voice_cfg = _voice_config(args.model)
    except (TypeError, ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}")
    sample_rate = int(voice_cfg.preprocessor.sample_rate)

    def load_audio(path):
        import librosa

        return librosa.load(path, sr=sample_rate)[0]

    judge = perceptual_judge = None
    if not args.no_wer:
        from nemo_distill.eval.tts_metrics import WhisperJudge

        judge = WhisperJudge()
    if not args.no_dnsmos:
        from nemo_distill.eval.tts_metrics import DnsmosJudge

        perceptual_judge = DnsmosJudge()
    os.makedirs(args.out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out_dir) as work_dir:
        try:
            systems = systems_for(args, voice_cfg, load_audio, work_dir)
        except (TypeError, ValueError, FileNotFoundError, ModuleNotFoundError) as error:
            raise SystemExit(f"error: {error}")
        results = run_vocoder_benchmark(rows, systems, sample_rate, load_audio, judge=judge,
                                        perceptual_judge=perceptual_judge,
                                        audio_dir=os.path.join(args.out_dir, "audio"),
                                        audio_examples=args.audio_examples,
                                        progress=lambda iterable, **kw: tqdm(iterable, file=sys.stderr, **kw))
    caption = (f"{len(rows)} recordings of {args.manifest}; mels by NeMo's AudioToMelSpectrogramPreprocessor with "
               f"the {'settings of ' + args.model if args.model else 'diffusion_tts preset'} "
               f"(log guard {voice_cfg.preprocessor.log_zero_guard_type}); WER by Whisper tiny.en, DNSMOS by "
               f"speechmos; CPU s of the vocoder per s of audio, {args.threads} thread(s)")
    table = format_vocoder_table(results, caption)
    print(table)
    with open(os.path.join(args.out_dir, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump({"manifest": args.manifest, "model": args.model, "threads": args.threads, "results": results},
                  f, indent=2)
    plot_vocoder_results(results, os.path.join(args.out_dir, "vocoders.png"))
    return results


if __name__ == "__main__":
    main()
