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

"""Deployment benchmark: the teacher (PyTorch, N steps), the distilled student (PyTorch, k steps) and the student's
exported repository (onnxruntime, no torch), text -> mel -> HiFi-GAN audio, on the same texts and noise.

Each system runs alone in a fresh process (:mod:`nemo_distill.eval.deploy_worker`), one after the other, so its
timing has the cores to itself and its memory is its own. Rows: ms per utterance (mel, vocoder, total), real-time
factor, load time, model file sizes, peak resident memory (and the part above the process's imports), and for the
ONNX row the largest mel difference to the PyTorch student on the same tokens and noise (the parity on a real
model).
"""

import json
import os
import subprocess
import sys
from typing import Dict, List, Sequence

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
                         teacher_steps: int, threads: int = 1, seed: int = 0, progress=print) -> List[Dict]:
    """Measure the three systems; returns one row per system (also written to ``out_dir/deploy_results.json``)."""
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
    systems = [
        (f"teacher_{teacher_steps} (PyTorch)", "torch", teacher_steps, [teacher], [vocoder],
         ["torch", "--model", teacher, "--vocoder", vocoder, "--steps", str(teacher_steps)]),
        (f"student_{student_steps} (PyTorch)", "torch", student_steps, [student], [vocoder],
         ["torch", "--model", student, "--vocoder", vocoder, "--steps", str(student_steps)]),
        (f"student_{student_steps} (onnxruntime)", "onnxruntime", student_steps,
         list(onnx_files.values()), onnx_vocoder, ["onnx", "--repo", repo]),
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
    torch_student, onnx_student = (mels[r["system"]] for r in rows[1:])
    rows[2]["mel_lengths_equal"] = all(a.shape == b.shape for a, b in zip(torch_student, onnx_student))
    if rows[2]["mel_lengths_equal"]:
        rows[2]["mel_max_abs_diff_vs_pytorch"] = float(max(np.abs(a - b).max()
                                                           for a, b in zip(torch_student, onnx_student)))
        rows[2]["audio_min_corr_vs_pytorch"] = float(min(np.corrcoef(a, b)[0, 1] for a, b in zip(
            *(audios[r["system"]] for r in rows[1:]))))
    write_json_atomic(os.path.join(out_dir, "deploy_results.json"), rows, indent=1)
    return rows


def _format(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_deploy_table(rows: Sequence[Dict], caption: str) -> str:
    header = ("| system | steps | generator file(s) MB | vocoder file MB | load s | peak RSS MB | RSS above imports MB "
              "| mel ms/utt | of which front-end ms/utt | mel / front-end | vocoder ms/utt | total ms/utt | RTF "
              "| mel max abs diff vs PyTorch | audio min corr vs PyTorch |")
    lines = [header, "| --- " + "| ---: " * 14 + "|"]
    for r in rows:
        cells = [r["system"], str(r["steps"]), f"{r['generator_mb']:.1f}", f"{r['vocoder_mb']:.1f}",
                 f"{r['load_s']:.2f}", f"{r['peak_rss_mb']:.0f}", f"{r['peak_rss_mb'] - r['rss_after_imports_mb']:.0f}",
                 f"{r['mel_ms_per_utt']:.1f}", _format(r.get("frontend_ms_per_utt"), ".1f"),
                 _format(r["mel_ms_per_utt"] / r["frontend_ms_per_utt"] if r.get("frontend_ms_per_utt") else None,
                         ".2f"),
                 f"{r['vocoder_ms_per_utt']:.1f}", f"{r['total_ms_per_utt']:.1f}",
                 f"{r['rtf']:.4f}", _format(r.get("mel_max_abs_diff_vs_pytorch"), ".2e"),
                 _format(r.get("audio_min_corr_vs_pytorch"), ".6f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n{caption}"


def plot_deploy(rows: Sequence[Dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["system"].replace(" (", "\n(") for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (key, label, log) in zip(axes, (("total_ms_per_utt", "ms per utterance (text -> audio)", True),
                                            ("peak_rss_mb", "peak resident memory, MB", False),
                                            ("generator_mb", "generator file(s), MB", False))):
        values = [r[key] for r in rows]
        bars = ax.bar(names, values, color=["tab:gray", "tab:blue", "tab:green"][: len(rows)])
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_title(label, fontsize=9)
        if log:
            ax.set_yscale("log")
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
