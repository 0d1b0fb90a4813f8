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

"""The judging half of ``scripts/teacher_curves.py``: every snapshot through the benchmark's machinery
(:func:`nemo_distill.eval.tts_benchmark.run_benchmark`), one process, the judges loaded once; table and plot."""

import json
import os
from typing import Dict, List

import torch
from tqdm import tqdm

from nemo_distill.eval.tts_benchmark import System, run_benchmark
from nemo_distill.eval.tts_report import DNSMOS_LABELS
from nemo_distill.models import DiffusionSpectrogramGenerator
from nemo_distill.parts.vocoder import vocoder_function
from nemo_distill.utils.files import sha256_file

CALIBRATION = (System("recording", "recording"), System("recording_mel", "recording_mel"), System("coarse", "coarse"))


def _row(name: str, minutes, result: Dict, vocoder: str) -> Dict:
    dnsmos = result.get("dnsmos", {})
    scores = dnsmos.get("recording", {}) if result["kind"] == "recording" else dnsmos.get(vocoder, {})
    wer = result.get("wer", {})
    return {"variant": name, "minutes": minutes, "wer": wer.get("recording", wer.get(vocoder)),
            **{key: scores.get(key) for key in DNSMOS_LABELS}, "mel_fd": result.get("mel_fd")}


def format_curves(rows: List[Dict], caption: str) -> str:
    def cell(value, digits):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [caption, "", "| variant | minutes | WER | SIG | BAK | OVRL | P.808 | mel FD |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        minutes = "-" if row["minutes"] is None else f"{row['minutes']:g}"
        lines.append(f"| {row['variant']} | {minutes} | {cell(row['wer'], 3)} | "
                     + " | ".join(cell(row[key], 2) for key in DNSMOS_LABELS) + f" | {cell(row['mel_fd'], 2)} |")
    return "\n".join(lines)


def plot_curves(rows: List[Dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("ovrl", "DNSMOS OVRL"), ("p808", "DNSMOS P.808"), ("wer", "WER (Whisper tiny.en)"),
              ("mel_fd", "mel Frechet distance")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    curves = sorted({r["variant"] for r in rows if r["minutes"] is not None})
    for ax, (key, label) in zip(axes, panels):
        for name in curves:
            points = sorted((r["minutes"], r[key]) for r in rows if r["variant"] == name and r[key] is not None)
            if points:
                ax.plot(*zip(*points), marker="o", label=name)
        for r in rows:
            if r["minutes"] is None and r[key] is not None:
                ax.axhline(r[key], linestyle="--", linewidth=0.8, color="grey")
                ax.annotate(r["variant"], (0, r[key]), xycoords=("axes fraction", "data"), fontsize=7, va="bottom")
        ax.set_xlabel("training minutes (one thread) beyond the front-end")
        ax.set_title(label)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def judge_snapshots(args, out: str, names: List[str], reference: str) -> List[Dict]:
    import librosa

    from benchmark import _load_fastpitch, _loader, _load_manifest  # scripts/benchmark.py
    from nemo_distill.eval.tts_metrics import DnsmosJudge, WhisperJudge

    torch.set_num_threads(args.threads)
    cache_path = os.path.join(out, "results.json")
    cache = json.load(open(cache_path)) if os.path.isfile(cache_path) else {}
    rows = _load_manifest(os.path.join(args.corpus, "test_manifest.json"))[: args.max_utterances or None]
    manifest = os.path.join(out, "test_manifest.json")
    with open(manifest, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    snapshots = [(name, m, path) for name in names for m in args.minutes
                 if os.path.isfile(path := os.path.join(out, name, f"{m:g}min.nemo"))]
    first = next((path for name, _, path in snapshots if name != reference), None)
    if first is None:
        raise SystemExit("error: no decoder snapshot to judge")
    model = DiffusionSpectrogramGenerator.from_nemo(first).eval()
    loader = _loader(model, manifest, os.path.join(args.corpus, "sup_data"))
    vocoder_name, vocode = vocoder_function(args.vocoder, model.cfg)
    judges = {"judge": WhisperJudge(), "perceptual_judge": DnsmosJudge(),
              "load_audio": lambda p: librosa.load(p, sr=model.cfg.sample_rate)[0]}
    sampler, t_start = args.sampler, args.t_start
    system = System(f"{sampler}_{args.steps}", "diffusion", args.steps, sampler)
    # the calibration and FastPitch rows do not sample: their key leaves the sampler and the start out
    key = f"steps={args.steps} temperature={args.temperature} utterances={len(rows)} vocoder={args.vocoder}"
    sampled_key = key + (f" t_start={t_start:g}" if t_start is not None else "") + (
        f" sampler={sampler}" if sampler != "ddim" else "")

    def judged(cache_key, systems, generator, fastpitch=None):
        if cache_key not in cache:
            cache[cache_key] = run_benchmark(generator, loader, rows, systems, {vocoder_name: vocode}, seed=0,
                                             fastpitch=fastpitch, temperature=args.temperature, t_start=t_start,
                                             **judges)
            with open(cache_path + ".tmp", "w") as f:
                json.dump(cache, f, indent=1)
            os.replace(cache_path + ".tmp", cache_path)
        return cache[cache_key]

    table = [_row(s.name, None, r, vocoder_name) for s, r in
             zip(CALIBRATION, judged(f"calibration {key} {sha256_file(first)}", CALIBRATION, model).values())]
    for name, minutes, path in tqdm(snapshots, desc="snapshots"):
        if name == reference:
            result = judged(f"{key} {sha256_file(path)}", [System("fastpitch", "fastpitch")], model,
                            _load_fastpitch(path, model))
            table.append(_row(name, minutes, result["fastpitch"], vocoder_name))
        else:
            generator = DiffusionSpectrogramGenerator.from_nemo(path).eval()
            result = judged(f"{sampled_key} {sha256_file(path)}", [system], generator)
            table.append(_row(name, minutes, result[system.name], vocoder_name))
    caption = (f"{len(rows)} test sentences of {args.corpus}; diffusion rows: {args.steps} {sampler} steps, "
               f"temperature {args.temperature if args.temperature is not None else 'each model default'}, t_start "
               f"{t_start if t_start is not None else 'each model default'}, seed 0; every row's "
               f"audio through {vocoder_name} ({args.vocoder}); WER Whisper tiny.en, DNSMOS (speechmos); mel FD with "
               f"ground-truth durations; minutes: wall minutes of one-thread training beyond the front-end's "
               f"{args.frontend_minutes:g}, {args.jobs} trainings at a time on this machine; coarse: the front-end's "
               "own mel")
    text = format_curves(table, caption)
    print(text)
    with open(os.path.join(out, "curves.md"), "w") as f:
        f.write(text + "\n")
    plot_curves(table, os.path.join(out, "curves.png"))
    return table
