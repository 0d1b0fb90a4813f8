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

"""Learning curves of teacher variants in CPU minutes, judged through the real vocoder (WER, DNSMOS, mel FD).

    python scripts/teacher_curves.py --corpus outputs/demo/corpus --frontend outputs/demo/fastpitch/FastPitch.nemo \
        --frontend-minutes 20 --minutes 4 8 12 --out-dir outputs/teacher_curves \
        --variant small= --variant wide=model.diffusion.denoiser.channels=128,model.diffusion.denoiser.num_blocks=8

Each ``--variant NAME=OVERRIDES`` (comma-separated Hydra overrides of ``--config``) is a diffusion decoder trained
on the frozen front-end ``--frontend`` (``scripts/train_diffusion_tts.py +init_from_nemo_model=...
model.frontend.freeze=true``); the reference ``fastpitch`` is that front-end's FastPitch trained on from its last
checkpoint (its folder's ``checkpoints/``) for the same minutes. Every training runs on one thread, ``--jobs`` of
them at a time, and stops at each of ``--minutes`` (wall minutes of training; the front-end's own are
``--frontend-minutes``) to leave a snapshot ``<out>/<variant>/<m>min.nemo`` (the training itself in
``<out>/training/<variant>/``): a rerun resumes and skips what exists.

The judging then runs every snapshot on the test split, one process, the same noise: the diffusion rows at
``--steps`` steps of ``--sampler`` (DDIM), ``--temperature`` and ``--t-start``, the FastPitch rows, and once the
recordings, their mels through the vocoder and the front-end's coarse mel; WER (Whisper tiny.en) and DNSMOS (SIG,
BAK, OVRL, P.808) of the audio through ``--vocoder`` (default the pretrained HiFi-GAN), mel L1 and Frechet distance
with ground-truth durations. Writes
``curves.md`` (the table), ``curves.png`` (OVRL, P.808, WER and FD against minutes, the calibration rows as lines)
and ``results.json``; judged snapshots are kept there and not judged again.
"""

import argparse
import json
import os
import shutil
import sys

from demo_stages import StageRunner, seed_last_checkpoints  # scripts/demo_stages.py, beside this script

from nemo_distill.diffusion.samplers import SAMPLERS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = "fastpitch"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="folder with train/val/test manifests and sup_data/")
    parser.add_argument("--frontend", required=True, help="the plain FastPitch .nemo every decoder is trained on")
    parser.add_argument("--frontend-minutes", type=float, required=True,
                        help="the front-end's own training minutes (its checkpoint's max_time is this plus m)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=OVERRIDES",
                        help="a decoder variant: a name and comma-separated Hydra overrides (may be empty)")
    parser.add_argument("--minutes", type=float, nargs="+", required=True, help="snapshot times, ascending")
    parser.add_argument("--config", default="diffusion_tts_small")
    parser.add_argument("--no-reference", action="store_true", help="no FastPitch-trained-on curve")
    parser.add_argument("--jobs", type=int, default=2, help="trainings at a time (one thread each)")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=None, help="default: each model's own")
    parser.add_argument("--t-start", type=float, default=None,
                        help="where sampling starts (< 1: shallow, from the noised coarse mel); default: the model's")
    parser.add_argument("--sampler", default="ddim", choices=sorted(SAMPLERS))
    parser.add_argument("--vocoder", default="pretrained")
    parser.add_argument("--max-utterances", type=int, default=0, help="the first N test sentences (0: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the judging")
    parser.add_argument("--out-dir", default="outputs/teacher_curves")
    args = parser.parse_args(argv)
    variants = {}
    for spec in args.variant:
        name, sep, overrides = spec.partition("=")
        if not sep or not name or name == REFERENCE or "/" in name:
            parser.error(f"--variant {spec!r}: give NAME=OVERRIDES (NAME not {REFERENCE!r}, no '/')")
        variants[name] = [o for o in overrides.split(",") if o]
    if not variants:
        parser.error("give at least one --variant")
    if args.t_start is not None and not 0 < args.t_start <= 1:
        parser.error(f"--t-start must be in (0, 1], got {args.t_start}")
    if list(args.minutes) != sorted(set(args.minutes)) or args.minutes[0] <= 0:
        parser.error(f"--minutes must be positive and ascending, got {args.minutes}")
    for path in (args.frontend, os.path.join(args.corpus, "test_manifest.json")):
        if not os.path.isfile(path):
            parser.error(f"{path} does not exist")
    args.variants = variants
    return args


def snapshot_path(out: str, variant: str, minutes: float) -> str:
    return os.path.join(out, variant, f"{minutes:g}min.nemo")


class Curves:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out_dir)
        self.runner = StageRunner(REPO, self.out, threads=1)
        corpus = os.path.abspath(args.corpus)
        self.data = [f"train_dataset={corpus}/train_manifest.json", f"validation_datasets={corpus}/val_manifest.json",
                     f"sup_data_path={corpus}/sup_data", "+precompute_sup_data=true"]

    def train(self, variant: str) -> None:
        """Trains ``variant`` up to each snapshot time in turn (resuming its folder), one thread."""
        a = self.args
        # NeMo's exp_manager moves what a resumed folder holds into run_<n>/: the snapshots live outside it
        folder = os.path.join(self.out, "training", variant)  # its log: <out>/<variant>.log
        checkpoints = os.path.join(folder, "checkpoints")
        if variant == REFERENCE and not os.path.isdir(checkpoints):
            source = os.path.dirname(os.path.abspath(a.frontend))
            last = [n for n in os.listdir(os.path.join(source, "checkpoints")) if n.endswith("-last.ckpt")]
            if len(last) != 1:
                raise SystemExit(f"error: {source}/checkpoints holds {len(last)} '-last.ckpt' files: the reference "
                                 "curve needs the front-end's own last checkpoint")
            seed_last_checkpoints(source, folder)
        for minutes in a.minutes:
            snapshot = snapshot_path(self.out, variant, minutes)
            if os.path.isfile(snapshot):
                continue
            if variant == REFERENCE:
                nemo = self.runner.trained(folder, "FastPitch", "train_diffusion_tts.py", a.frontend_minutes + minutes,
                                           ["--config-name", a.config, *self.data, "+baseline=fastpitch",
                                            "name=FastPitch"], force=True, threads=1, echo=False)
            else:
                nemo = self.runner.trained(folder, "Teacher", "train_diffusion_tts.py", minutes, [
                    "--config-name", a.config, *self.data, f"+init_from_nemo_model={os.path.abspath(a.frontend)}",
                    "model.frontend.freeze=true", "name=Teacher", *a.variants[variant]], force=True, threads=1,
                    echo=False)
            os.makedirs(os.path.dirname(snapshot), exist_ok=True)
            shutil.copy2(nemo, snapshot + ".tmp")
            os.replace(snapshot + ".tmp", snapshot)

    def main(self) -> None:
        names = list(self.args.variants) + ([] if self.args.no_reference else [REFERENCE])
        for start in range(0, len(names), self.args.jobs):
            batch = names[start:start + self.args.jobs]
            self.runner.together(*[lambda name=name: self.train(name) for name in batch])
        print(f"training minutes per variant (wall, all snapshots): {self.runner.minutes()}", flush=True)
        from curves_judging import judge_snapshots  # NeMo is imported by the judging only

        judge_snapshots(self.args, self.out, names, REFERENCE)


if __name__ == "__main__":
    sys.exit(Curves(parse_args()).main())
