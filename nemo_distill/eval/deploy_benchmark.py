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

"""Deployment benchmark: the teacher (PyTorch, N steps), the distilled student (PyTorch, k steps), plain FastPitch
(PyTorch, when given) and the student's exported repository (onnxruntime, no torch: with its sampler, and without it,
FastPitch's own mel into the vocoder), text -> mel -> HiFi-GAN audio, on the same texts and noise.

Each system runs alone in a fresh process (:mod:`nemo_distill.eval.deploy_worker`), one after the other, so its
timing has the cores to itself and its memory is its own. Rows: ms per utterance of the front-end (FastPitch), the
sampler (the diffusion decoder) and the vocoder, their total and shares, the text-to-audio real-time factor, load
time, model file sizes, peak resident memory (and the part above the process's imports), and for the ONNX student the
largest mel difference to the PyTorch student on the same tokens and noise (the parity on a real model).
"""

import json
import os
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from nemo_distill.utils.files import write_json_atomic

__all__ = ["format_deploy_table", "plot_deploy", "run_deploy_benchmark"]

WORKER = "nemo_distill.eval.deploy_worker"  # run as a module of the installed package


def _mb(paths: Sequence[str]) -> float:
    return sum(os.path.getsize(p) for p in paths) / 1e6


def _run_worker(args: List[str], out: str, threads: int, seed: int, texts_path: str) -> Dict:
    command = [sys.executable, "-m", WORKER, *args, "--texts", texts_path, "--threads", str(threads), "--seed", str(seed),
               "--out", out]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"deploy worker {' '.join(args[:1])} failed:\n{result.stderr[-3000:]}")
    with open(out) as f:
        return json.load(f)


def _arrays(out: str, suffix: str = "") -> List[np.ndarray]:
    with np.load(os.path.splitext(out)[0] + suffix + ".npz") as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def run_deploy_benchmark(teacher: str, student: str, vocoder: str, repo: str, texts: Sequence[str], out_dir: str,
                         teacher_steps: int, threads: int = 1, seed: int = 0, progress=print,
                         fastpitch: Optional[str] = None) -> List[Dict]:
    """Measure every system; returns one row per system (also written to ``out_dir/deploy_results.json``).
    ``vocoder``: a HiFi-GAN ``.nemo`` (the PyTorch rows'; the ONNX rows use the repository's graph)."""
    with open(os.path.join(repo, "deploy.json")) as f:
        manifest = json.load(f)
    student_steps = int(manifest["steps"])
    work = os.path.join(out_dir, "deploy_runs")
    os.makedirs(work, exist_ok=True)
    texts_path = os.path.join(work, "texts.json")
    write_json_atomic(texts_path, list(texts))
    onnx_files = {step["model"]: os.path.join(repo, manifest["models"][step["model"]]["file"])
                  for step in manifest["pipeline"]}
    onnx_vocoder = [onnx_files.pop("vocoder")]
    torch_student, onnx_student = f"student_{student_steps} (PyTorch)", f"student_{student_steps} (onnxruntime)"
    systems = [
        (f"teacher_{teacher_steps} (PyTorch)", "torch", teacher_steps, [teacher], [vocoder],
         ["torch", "--model", teacher, "--vocoder", vocoder, "--steps", str(teacher_steps)]),
        (torch_student, "torch", student_steps, [student], [vocoder],
         ["torch", "--model", student, "--vocoder", vocoder, "--steps", str(student_steps)]),
        *([("fastpitch (PyTorch)", "torch", 0, [fastpitch], [vocoder],
            ["torch", "--fastpitch", fastpitch, "--vocoder", vocoder])] if fastpitch else []),
        (onnx_student, "onnxruntime", student_steps, list(onnx_files.values()), onnx_vocoder,
         ["onnx", "--repo", repo]),
        ("front-end + vocoder, no sampler (onnxruntime)", "onnxruntime", 0, [onnx_files["frontend"]], onnx_vocoder,
         ["onnx", "--repo", repo, "--no-sampler"]),
    ]
    rows, mels, audios = [], {}, {}
    for name, runtime, steps, generator_files, vocoder_files, args in systems:
        progress(f"deploy benchmark: {name} ...")
        out = os.path.join(work, f"{len(rows)}.json")
        result = _run_worker(args, out, threads, seed, texts_path)
        mels[name], audios[name] = _arrays(out), _arrays(out, "_audio")
        rows.append({"system": name, "runtime": runtime, "steps": steps, "generator_mb": _mb(generator_files),
                     "vocoder_mb": _mb(vocoder_files), "files": [os.path.relpath(p) for p in generator_files +
                                                                 vocoder_files], **result})
    onnx_row = next(r for r in rows if r["system"] == onnx_student)
    onnx_row["mel_lengths_equal"] = all(a.shape == b.shape for a, b in zip(mels[torch_student], mels[onnx_student]))
    if onnx_row["mel_lengths_equal"]:
        onnx_row["mel_max_abs_diff_vs_pytorch"] = float(max(np.abs(a - b).max()
                                                            for a, b in zip(mels[torch_student], mels[onnx_student])))
        onnx_row["audio_min_corr_vs_pytorch"] = float(min(np.corrcoef(a, b)[0, 1] for a, b in zip(
            audios[torch_student], audios[onnx_student])))
    write_json_atomic(os.path.join(out_dir, "deploy_results.json"), rows, indent=1)
    return rows


def _format(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


PARTS = ("frontend", "sampler", "vocoder")


def format_deploy_table(rows: Sequence[Dict], caption: str) -> str:
    header = ("| system | steps | generator file(s) MB | vocoder file MB | load s | peak RSS MB | RSS above imports MB "
              "| front-end ms/utt | sampler ms/utt | vocoder ms/utt | total ms/utt | RTF (text to audio) "
              "| share front-end / sampler / vocoder | mel max abs diff vs PyTorch | audio min corr vs PyTorch |")
    lines = [header, "| --- " + "| ---: " * 14 + "|"]
    for r in rows:
        cells = [r["system"], str(r["steps"]), f"{r['generator_mb']:.1f}", f"{r['vocoder_mb']:.1f}",
                 f"{r['load_s']:.2f}", f"{r['peak_rss_mb']:.0f}", f"{r['peak_rss_mb'] - r['rss_after_imports_mb']:.0f}",
                 *[f"{r[f'{part}_ms_per_utt']:.1f}" for part in PARTS], f"{r['total_ms_per_utt']:.1f}",
                 f"{r['rtf']:.4f}", " / ".join(f"{100 * r['share'][part]:.0f}%" for part in PARTS),
                 _format(r.get("mel_max_abs_diff_vs_pytorch"), ".2e"),
                 _format(r.get("audio_min_corr_vs_pytorch"), ".6f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n{caption}"


def plot_deploy(rows: Sequence[Dict], path: str) -> None:
    """Left: ms per utterance, stacked by part (front-end, sampler, vocoder; log scale); middle: peak memory;
    right: model files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["system"].replace(" (", "\n(") for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    bottom = np.zeros(len(rows))
    for part, color in zip(PARTS, ("tab:gray", "tab:blue", "tab:green")):
        values = np.array([r[f"{part}_ms_per_utt"] for r in rows])
        axes[0].bar(names, values, bottom=bottom, color=color, label=part)
        bottom += values
    for x, total in enumerate(bottom):
        axes[0].text(x, total, f"{total:.0f}", ha="center", va="bottom", fontsize=7)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    axes[0].set_title("ms per utterance (text -> audio), by part", fontsize=9)
    for ax, (key, label) in zip(axes[1:], (("peak_rss_mb", "peak resident memory, MB"),
                                           ("generator_mb", "generator file(s), MB"))):
        bars = ax.bar(names, [r[key] for r in rows], color="tab:blue")
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_title(label, fontsize=9)
    for ax in axes:
        ax.tick_params(axis="x", labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
