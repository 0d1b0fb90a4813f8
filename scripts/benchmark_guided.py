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

"""Benchmark the single-backbone ClassifierGuidedGenerator against the two-model baseline, in one run.

    python scripts/benchmark_guided.py --guided outputs/guided/.../ClassifierGuided.nemo \
        --baseline outputs/two_model/.../TwoModelGuided.nemo --judge outputs/judge/.../DigitJudge.nemo \
        --manifest data/digits/val_manifest.json data/digits/test_manifest.json \
        --guidance-scales 0 1 2 4 --samples-per-class 20 --steps 25 --out-dir outputs/benchmark_guided

Cost per sampling step for each system (parameters, MACs per sample with and without guidance, peak memory, ms per
step on a batch of ``--batch-size``) and quality at every guidance scale (accuracy of the generated digits under the
independent judge, Frechet distance to the real clips of ``--manifest`` in the judge's embedding space, per-class
diversity relative to the real clips). Both systems sample from the same noise. Rows ``real`` give the judge's
accuracy on the real clips and the Frechet distance between two halves of them (the floor that sample size allows).
Writes table.md, results.json and benchmark_guided.png to ``--out-dir``.
"""

import argparse
import json
import os

import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from nemo_distill.diffusion.samplers import SAMPLERS
from nemo_distill.eval.distances import frechet_distance
from nemo_distill.eval.guided_benchmark import (
    JudgeFeatures,
    check_same_mels,
    format_tables,
    generate_all,
    parameter_counts,
    plot_benchmark,
    quality_row,
    real_log_mels,
    requested_labels,
    step_cost,
)
from nemo_distill.utils.files import write_json_atomic, write_text_atomic


def _restore(path: str, expected: tuple, role: str):
    from nemo_distill.parts.restore import restore_model

    return restore_model(path, expected, role=role)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guided", required=True, help="ClassifierGuidedGenerator .nemo (scripts/train_guided.py)")
    parser.add_argument("--baseline", required=True, help="TwoModelGuidedGenerator .nemo "
                                                          "(scripts/train_guided.py --config-name two_model_guided)")
    parser.add_argument("--judge", required=True, help="clean-clip classifier .nemo (conf/digit_judge.yaml)")
    parser.add_argument("--manifest", nargs="+", required=True, help="real clips (not the judge's training set)")
    parser.add_argument("--guidance-scales", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    parser.add_argument("--guidance-interval", type=float, nargs=2, default=None, metavar=("T_MIN", "T_MAX"),
                        help="guide both systems only at diffusion times in [T_MIN, T_MAX] (1 = pure noise); "
                             "default: each model's diffusion.guidance_interval (null: every step)")
    parser.add_argument("--samples-per-class", type=int, default=20)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--sampler", choices=sorted(SAMPLERS), default=None,
                        help="sampler for both systems (ddpm: stochastic); default: each model's diffusion.sampler")
    parser.add_argument("--batch-size", type=int, default=50, help="samples per generate() call")
    parser.add_argument("--cost-batch", type=int, default=10, help="batch of the per-step cost measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    if args.samples_per_class < 2:
        parser.error("--samples-per-class must be at least 2 (diversity compares samples of one class)")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    from nemo_distill.models import ClassifierGuidedGenerator, NoisyClassifierModel, TwoModelGuidedGenerator
    from nemo_distill.data.labelled_audio import label_loader

    systems = {"single_backbone": _restore(args.guided, (ClassifierGuidedGenerator,), "--guided"),
               "two_model": _restore(args.baseline, (TwoModelGuidedGenerator,), "--baseline")}
    judge_model = _restore(args.judge, (NoisyClassifierModel,), "--judge")
    check_same_mels(judge_model, systems.values())
    labels = [model.labels for model in systems.values()]
    if any(names != judge_model.labels for names in labels):
        raise ValueError(f"the systems' and the judge's class sets differ: {labels} vs {judge_model.labels}")
    judge = JudgeFeatures(judge_model)
    os.makedirs(args.out_dir, exist_ok=True)

    real_mels, real_labels = [], []
    for manifest in args.manifest:
        loader = label_loader(OmegaConf.create({"manifest_filepath": manifest, "batch_size": 64, "shuffle": False}),
                              judge_model.labels, judge_model.mel_settings["sample_rate"], False)
        mels, ids = real_log_mels(judge_model, loader)
        real_mels.append(mels)
        real_labels.append(ids)
    real_mels, real_labels = torch.cat(real_mels), torch.cat(real_labels)
    real_logits, real_embeddings = judge(real_mels)
    half = torch.arange(len(real_mels)) % 2 == 0
    quality = [{"system": "real", "guidance_scale": None,
                "accuracy": float((real_logits.argmax(-1) == real_labels).float().mean()),
                "frechet": frechet_distance(real_embeddings[half], real_embeddings[~half]), "diversity": 1.0}]
    print(f"{len(real_mels)} real clips; judge accuracy {quality[0]['accuracy']:.3f}; Frechet distance between "
          f"halves {quality[0]['frechet']:.2f}")

    cost = {}
    for name, model in systems.items():
        cost[name] = {"params": parameter_counts(model),
                      "guided": step_cost(model, args.cost_batch, guidance_scale=1.0),
                      "unguided": step_cost(model, args.cost_batch, guidance_scale=0.0)}

    requested = requested_labels(len(judge_model.labels), args.samples_per_class)
    total = len(systems) * len(args.guidance_scales) * len(requested)
    with tqdm(total=total, desc="generating", unit="clip") as progress:
        for name, model in systems.items():
            for scale in args.guidance_scales:
                mels = generate_all(model, requested, args.steps, scale, args.batch_size, args.seed, progress,
                                    guidance_interval=args.guidance_interval, sampler=args.sampler)
                row = {"system": name, "guidance_scale": scale,
                       **quality_row(judge, mels, requested, real_embeddings, real_labels)}
                quality.append(row)
                tqdm.write(f"{name} scale {scale:g}: accuracy {row['accuracy']:.3f} Frechet {row['frechet']:.2f} "
                           f"diversity {row['diversity']:.2f}")

    table = format_tables(cost, quality)
    device = "GPU" if torch.cuda.is_available() else f"{torch.get_num_threads()} CPU threads"
    if args.guidance_interval is not None:
        interval = _interval_text(args.guidance_interval)
    else:  # each model's own diffusion.guidance_interval
        interval = ", ".join(f"{_interval_text(model.cfg.diffusion.get('guidance_interval'))} ({name})"
                             for name, model in systems.items())
    samplers = {model.cfg.diffusion.sampler for model in systems.values()} if args.sampler is None else {args.sampler}
    caption = (f"{args.samples_per_class} samples per class, {args.steps} {'/'.join(sorted(samplers)).upper()} steps, "
               f"same noise for both systems, "
               f"guidance at {interval}; "
               f"judge: {args.judge}; real clips: {', '.join(args.manifest)}; cost on a batch of {args.cost_batch}, "
               f"{device}")
    write_text_atomic(os.path.join(args.out_dir, "table.md"), table + "\n\n" + caption + "\n")
    write_json_atomic(os.path.join(args.out_dir, "results.json"),
                      {"args": vars(args), "cost": cost, "quality": quality})
    plot_benchmark(cost, quality, os.path.join(args.out_dir, "benchmark_guided.png"))
    print(table)
    print(caption)


def _interval_text(interval) -> str:
    return "every step" if interval is None else "t in [{:g}, {:g}]".format(*interval)


if __name__ == "__main__":
    main()
