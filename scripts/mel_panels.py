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

"""One test sentence's mel from the recording and from each system, stacked frame for frame in one image.

    python scripts/mel_panels.py --manifest corpus/test_manifest.json --sup-data-path corpus/sup_data --index 0 \
        --fastpitch FastPitch.nemo --model "old teacher=old.nemo" --model "new teacher=new.nemo" --out mels.png

Every panel has the recording's durations (the aligner's, as the benchmark's mel distances do), so a frame of one
panel is the same moment in every other: the recording's own mel, ``--fastpitch`` (a plain NeMo FastPitch), and
each ``--model NAME=PATH`` (a DiffusionSpectrogramGenerator at its default steps and temperature, seed 0, its own
front-end's conditioning; ``--coarse`` adds the first model's coarse mel).
"""

import argparse
import json
import os

import torch

from benchmark import _load_fastpitch, _loader  # scripts/benchmark.py, beside this script
from nemo_distill.diffusion import SamplingOptions
from nemo_distill.eval.tts_metrics import teacher_forced_batches
from nemo_distill.models import DiffusionSpectrogramGenerator


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--sup-data-path", required=True)
    parser.add_argument("--index", type=int, default=0, help="the manifest row")
    parser.add_argument("--fastpitch", default=None)
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--coarse", action="store_true")
    parser.add_argument("--frames", type=int, default=400, help="the first N frames (0: all)")
    parser.add_argument("--out", required=True, help="the image (.png)")
    args = parser.parse_args(argv)
    models = [spec.partition("=") for spec in args.model]
    if not models or any(not name or not sep for name, sep, _ in models):
        parser.error("give --model NAME=PATH at least once")
    args.models = [(name, path) for name, _, path in models]
    return args


def _row_batch(model, args):
    """``model``'s teacher-forced ``(cond, coarse, target, lengths)`` of the manifest's row ``--index``, and the
    row's text."""
    with open(args.manifest) as f:
        row = [line for line in f if line.strip()][args.index]
    manifest = f"{args.out}.{os.getpid()}.manifest.json"
    with open(manifest, "w") as f:
        f.write(row if row.endswith("\n") else row + "\n")
    try:
        loader = _loader(model, manifest, args.sup_data_path)  # NeMo's TTSDataset reads its manifest here
    finally:
        os.remove(manifest)
    return json.loads(row)["text"], next(teacher_forced_batches(model, loader))


@torch.no_grad()
def collect(args):
    """``(panels, frames, text)``: ``[(title, mel [n_mels, T])]`` in drawing order, the frames every panel shows
    (the recording's, at most ``--frames``) and the row's text."""
    panels = []
    for i, (name, path) in enumerate(args.models):
        model = DiffusionSpectrogramGenerator.from_nemo(path).eval()
        text, (cond, coarse, target, lengths) = _row_batch(model, args)
        if i == 0:
            panels.append(("recording", target[0, :, : int(lengths[0])]))
            if args.fastpitch:
                fastpitch = _load_fastpitch(args.fastpitch, model).eval()
                panels.append(("FastPitch", _row_batch(fastpitch, args)[1][1][0]))
            if args.coarse:
                panels.append((f"{name}: its front-end's coarse mel", coarse[0]))
        mel = model.decoder.decode(cond, coarse, lengths, SamplingOptions(seed=0))
        panels.append((f"{name} ({model.cfg.diffusion.default_steps} steps, temperature "
                       f"{model.cfg.diffusion.get('temperature', 1.0)})", mel[0]))
    frames = min(p.shape[-1] for _, p in panels)
    frames = min(frames, args.frames) if args.frames else frames
    return [(title, mel[:, :frames]) for title, mel in panels], frames, text


def draw(panels, frames: int, text: str, out: str) -> None:
    """The panels stacked, one colour scale (the recording's, the first panel's), written to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6, frames / 45), 1.9 * len(panels)), sharex=True)
    low, high = float(panels[0][1].min()), float(panels[0][1].max())
    for i, (ax, (title, mel)) in enumerate(zip(axes, panels)):
        ax.imshow(mel.cpu().numpy(), origin="lower", aspect="auto", interpolation="none", vmin=low, vmax=high)
        ax.set_title(f"{title}: \"{text}\"" if i == 0 else title, fontsize=9)
        ax.set_ylabel("mel bin")
    axes[-1].set_xlabel("frame (the recording's durations in every panel)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    panels, frames, text = collect(args)
    draw(panels, frames, text, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
