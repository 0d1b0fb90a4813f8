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

"""Text to wav files and mel images with a DiffusionSpectrogramGenerator .nemo (teacher or distilled student).

    python scripts/synthesize.py MODEL.nemo --text "Hello there." --out-dir outputs/synth --steps 32
    python scripts/synthesize.py MODEL.nemo --text-file sentences.txt --vocoder HIFIGAN.nemo
    python scripts/synthesize.py MODEL.nemo --text "Hello there." --vocoder griffin-lim
    nemo-distill-synthesize MODEL.nemo --text "Hello there."        # installed by pip (or python -m nemo_distill.cli.synthesize)

Vocoder (``--vocoder``, :mod:`nemo_distill.parts.vocoder`): ``pretrained`` (default: jik876's HiFi-GAN V1 universal
generator as a NeMo ``HifiGanModel``, converted for the voice's mel settings on first use), a NeMo HiFi-GAN ``.nemo``
trained with the same mel settings, or ``griffin-lim`` (no network).
Also writes FastPitch's own coarse-mel rendition with ``--coarse`` for comparison.
"""

import argparse
import os
import sys
import time
from dataclasses import replace

import numpy as np
import soundfile as sf
import torch

from nemo_distill.data.texts import read_texts
from nemo_distill.diffusion import SamplingOptions
from nemo_distill.models import DiffusionSpectrogramGenerator
from nemo_distill.parts.vocoder import PRETRAINED, vocoder_function

MEL_PNG_FRAMES = 4000  # a long text's mel image shows its beginning

def _read_texts(args):
    """``--text`` as given, or ``--text-file``: one sentence per line, or a NeMo manifest (its ``text`` field)."""
    return list(args.text) if args.text else read_texts(args.text_file)


def _save_mel_png(mel: np.ndarray, path: str, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, mel.shape[1] / 40), 3))
    ax.imshow(mel, origin="lower", aspect="auto", interpolation="none")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("frame")
    ax.set_ylabel("mel bin")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="DiffusionSpectrogramGenerator .nemo")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--text", action="append", help="a sentence (repeatable)")
    group.add_argument("--text-file", help="one sentence per line, or a NeMo manifest (its text field)")
    parser.add_argument("--out-dir", default="outputs/synthesize")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--sampler", default=None, choices=["ddim", "ddpm", "dpmpp_2m"])
    parser.add_argument("--guidance-scale", type=float, default=0.0)
    parser.add_argument("--layer-budget", type=int, default=None,
                        help="residual blocks per denoiser call (default: the model's diffusion.layer_budget, or all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocoder", default=PRETRAINED,
                        help="pretrained (default: the pretrained HiFi-GAN), pretrained:ljspeech, a HiFi-GAN .nemo, "
                             "or griffin-lim")
    parser.add_argument("--coarse", action="store_true", help="also write FastPitch's own coarse mel and audio")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--strict", action="store_true", help="refuse characters the tokenizer cannot speak")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        model = DiffusionSpectrogramGenerator.from_nemo(args.model)
    except (ValueError, FileNotFoundError) as error:  # missing, truncated, corrupt, another class: one line
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:  # the settings, then every text (and every piece of a long one), before the first file is written
        # the decoder resolves the settings it will sample with: its config's defaults for what was not given
        options = model.decoder.resolve(SamplingOptions(steps=args.steps, sampler=args.sampler,
                                                        guidance_scale=args.guidance_scale,
                                                        layer_budget=args.layer_budget))
        texts = _read_texts(args)
        for text in texts:
            model.check_text(text, strict=args.strict)
        pieces = [model.text_pieces(text) for text in texts]
        parsed = [[model.parse_batch([piece], check=False)[0] for piece in text_pieces] for text_pieces in pieces]
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        vocoder_name, to_audio = vocoder_function(args.vocoder, model.cfg)
    except (TypeError, ValueError, FileNotFoundError, ModuleNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"vocoder: {vocoder_name} ({args.vocoder})")

    os.makedirs(args.out_dir, exist_ok=True)
    for i, (text, piece_tokens) in enumerate(zip(texts, parsed)):
        # a long text piece by piece (bounded memory: the front-end attends over a whole piece), audio joined;
        # piece j's noise from seed + i + j * 100003 (a one-piece text: seed + i, as before)
        start, renditions, frames = time.perf_counter(), {"diffusion": [], "coarse": []}, 0
        audio = {"diffusion": [], "coarse": []}
        for j, tokens in enumerate(piece_tokens):
            mels, lengths = model.generate_spectrogram(
                tokens, options=replace(options, seed=args.seed + i + j * 100003), return_lengths=True)
            mel = mels[0, :, : lengths[0]]
            frames += int(lengths[0])
            kinds = {"diffusion": mel}
            if args.coarse:
                kinds["coarse"] = model.generate_coarse_spectrogram(tokens)[0, :, : lengths[0]]
            for kind, piece_mel in kinds.items():
                audio[kind].append(to_audio(piece_mel))
                if sum(m.shape[-1] for m in renditions[kind]) < MEL_PNG_FRAMES:
                    renditions[kind].append(piece_mel)
        seconds = time.perf_counter() - start
        for kind in [k for k in renditions if renditions[k]]:
            stem = os.path.join(args.out_dir, f"{i:03d}_{kind}")
            sf.write(stem + ".wav", np.concatenate(audio[kind]), model.cfg.sample_rate)
            mel = torch.cat(renditions[kind], dim=-1)[:, :MEL_PNG_FRAMES]
            title = f"{kind}: {text}" if len(piece_tokens) == 1 else f"{kind}: first {mel.shape[-1]} frames"
            _save_mel_png(mel.numpy(), stem + ".png", title[:200])
        audio_seconds = frames * model.cfg.n_window_stride / model.cfg.sample_rate
        print(f"{i:03d} {options.steps} steps, {1000 * seconds:.0f} ms for {audio_seconds:.2f} s of audio "
              f"(RTF {seconds / audio_seconds:.3f}, {len(piece_tokens)} piece(s)): {text[:80]}")
    return 0

if __name__ == "__main__":
    main()
