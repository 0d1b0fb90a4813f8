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

"""The layer-budget report: steps x layers, quality against cost, on the same texts and noise.

Rows (:func:`layer_systems`): the teacher at its full step count (the quality reference), then for every model
(the teacher at its default steps, each step student, each layer-distilled student) its full depth and each layer
budget. A budget row of a model that was not layer-distilled is naive dropping (the blocks skipped, nothing
retrained); a layer student's rows are what its training bought. ``l1_to_full_depth`` compares each budget row with
the full-depth model it was made from, from the same noise.

Cost (:func:`denoiser_call_costs`): multiply-accumulates of one denoiser call at each budget
(``torch.utils.flop_counter.FlopCounterMode``; FLOPs / 2) and its wall time, measured interleaved (every repeat
times every (model, budget) once, in turn, so drifts of a shared CPU hit all rows alike).
"""

import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from nemo_distill.eval.plots import label_steps_axis, save_figure
from nemo_distill.eval.tts_benchmark import System, table_rows

__all__ = [
    "denoiser_call_costs", "format_layer_table", "format_variance_table", "layer_systems", "plot_layer_tradeoff",
    "skip_stream_variance",
]


def layer_systems(full_steps: int, models: Sequence[Dict], budgets: Sequence[int], with_fastpitch: bool,
                  ) -> List[System]:
    """Benchmark rows of the layer report. ``models``: dicts with ``name`` (row prefix, e.g. ``teacher``,
    ``student``, ``layers``), ``key`` (the key in ``run_benchmark(models=...)``, None for the benchmarked teacher),
    ``steps``, ``num_blocks`` and ``full_depth_of`` (the ``name`` of the model a layer student was distilled from:
    its budget rows are compared with that model's full depth; None: its own)."""
    systems = [System("recording", "recording")]
    if with_fastpitch:
        systems.append(System("fastpitch", "fastpitch"))
    systems.append(System(f"teacher_{full_steps}", "diffusion", full_steps, "ddim", role="reference"))
    for model in models:
        base = f"{model['name']}_{model['steps']}"
        full_depth = f"{model['full_depth_of']}_{model['steps']}" if model.get("full_depth_of") else base
        blocks = int(model["num_blocks"])
        systems.append(System(base, "diffusion", model["steps"], "ddim", model=model["key"], role=model["name"],
                              layer_budget=blocks, full_depth=full_depth if full_depth != base else None))
        for budget in sorted({int(b) for b in budgets if int(b) < blocks}, reverse=True):
            systems.append(System(f"{base}_L{budget}", "diffusion", model["steps"], "ddim", model=model["key"],
                                  role=model["name"], layer_budget=budget, full_depth=full_depth))
    return systems


def _denoiser_inputs(decoder, frames: int):
    generator = torch.Generator().manual_seed(0)
    device = decoder.residual_scale.device
    z_t = torch.randn(1, decoder.n_mels, frames, generator=generator).to(device)
    cond = torch.randn(1, decoder.cond_channels, frames, generator=generator).to(device)
    prior = torch.randn(1, decoder.n_mels, frames, generator=generator).to(device)
    return z_t, torch.zeros(1, device=device), cond, prior, torch.ones(1, 1, frames, device=device)


@torch.no_grad()
def denoiser_call_costs(decoders: Dict[str, torch.nn.Module], budgets: Dict[str, Sequence[int]], frames: int = 200,
                        repeats: int = 20) -> Dict[Tuple[str, int], Dict[str, float]]:
    """``(model key, budget) -> {"macs_per_call", "ms_per_call"}`` for one utterance of ``frames`` frames;
    ``decoders``: key -> a ``DiffusionMelDecoder``, ``budgets``: key -> the budgets to measure. ``ms_per_call`` is
    the median of ``repeats`` interleaved calls (after one warm-up round)."""
    calls = {}
    for key, decoder in decoders.items():
        inputs = _denoiser_inputs(decoder, frames)
        for budget in budgets[key]:
            calls[(key, int(budget))] = (decoder, inputs)
    costs = {}
    for (key, budget), (decoder, inputs) in calls.items():
        with FlopCounterMode(display=False) as flops:
            decoder.prediction(*inputs, layer_budget=budget)
        costs[(key, budget)] = {"macs_per_call": flops.get_total_flops() / 2}
    times = {name: [] for name in calls}
    for repeat in range(repeats + 1):
        for name, (decoder, inputs) in calls.items():
            start = time.perf_counter()
            decoder.prediction(*inputs, layer_budget=name[1])
            if repeat:  # the first round warms up
                times[name].append(time.perf_counter() - start)
    for name in calls:
        costs[name]["ms_per_call"] = 1000 * float(np.median(times[name]))
    return costs


@torch.no_grad()
def skip_stream_variance(decoder, cond: torch.Tensor, coarse: torch.Tensor, mel: torch.Tensor, lengths: torch.Tensor,
                         budgets: Sequence[int], steps: int, seed: int = 0) -> Dict[int, Dict[str, float]]:
    """``budget -> {"rescaled", "unscaled"}``: the variance (mean square over valid frames and channels) of what the
    output layer reads at that budget, as a fraction of the full depth's, with the decoder's ``skip_scales`` and with
    the full model's ``1 / sqrt(N)``. Inputs: recorded mels noised at the ``steps``-step grid's levels (utterance
    ``i`` at level ``i mod steps``), ``cond`` ``[B, D, T]``, ``coarse``/``mel`` ``[B, n_mels, T]``, ``lengths``
    ``[B]``."""
    from nemo_distill.diffusion import frame_mask, noise_data, sampling_log_snrs

    mask = frame_mask(lengths, mel.shape[-1]).to(mel.dtype)
    x0 = decoder.x0_from_mel(mel, coarse) * mask
    grid = sampling_log_snrs(decoder.settings.schedule, steps, t_start=decoder.settings.t_start)[:-1]
    log_snr = grid[torch.arange(x0.shape[0]) % steps].to(x0.dtype)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    z_t = noise_data(x0, log_snr, decoder.settings.temperature * noise) * mask
    prior = decoder.prior_input(coarse) * mask
    denoiser = decoder.denoiser

    def variance(budget, rescale):
        stream = denoiser.skip_stream(z_t, log_snr, cond * mask, prior, mask, budget, rescale=rescale)
        return float((stream**2 * mask).sum() / (mask.sum() * stream.shape[1]))

    full = variance(None, True)
    return {int(b): {"rescaled": variance(b, True) / full, "unscaled": variance(b, False) / full} for b in budgets}


def format_variance_table(variances: Dict[str, Dict[int, Dict[str, float]]], caption: str = "") -> str:
    """``model -> skip_stream_variance(...)`` as a markdown table."""
    lines = [caption] if caption else []
    lines += ["| model | blocks | variance / full depth, with its skip scales | without (1 / sqrt(N)) |",
              "| --- | ---: | ---: | ---: |"]
    for model, by_budget in variances.items():
        for budget, v in sorted(by_budget.items(), reverse=True):
            lines.append(f"| {model} | {budget} | {v['rescaled']:.3f} | {v['unscaled']:.3f} |")
    return "\n".join(lines)


def format_layer_table(results: Dict[str, Dict], caption: str = "") -> str:
    """The benchmark table plus the layer columns: blocks per call, MACs per call and per utterance, ms per call,
    mel L1 to the full-depth model from the same noise."""
    rows = table_rows(results)
    header = rows[0][:2] + ["blocks", "M MACs / call", "M MACs / utt", "ms / call"] + rows[0][2:4] + [
        "L1 to full depth"] + rows[0][4:]
    lines = [caption] if caption else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("| --- |" + " ---: |" * (len(header) - 1))
    for row, (name, r) in zip(rows[1:], results.items()):
        extra = [_fmt(r.get("layer_budget"), 0), _fmt(_millions(r.get("macs_per_call")), 1),
                 _fmt(_millions(r.get("macs_per_utt")), 0), _fmt(r.get("ms_per_call"), 2)]
        cells = row[:2] + extra + row[2:4] + [_fmt(r.get("l1_to_full_depth"), 4)] + row[4:]
        lines.append("| " + " | ".join(cell or "-" for cell in cells) + " |")
    return "\n".join(lines)


def _millions(value: Optional[float]) -> Optional[float]:
    return None if value is None else value / 1e6


def _fmt(value, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def plot_layer_tradeoff(results: Dict[str, Dict], path: str) -> None:
    """Quality (mel FD; mel L1 to the full-step teacher) against MACs per utterance, one curve per model (its budgets;
    dashed: blocks skipped without training, solid: a layer-distilled student), the full-step teacher and plain
    FastPitch as reference lines: which (steps, layers) is cheapest at a quality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("mel_fd", "Frechet distance of mel frames"), ("l1_to_reference", "mel L1 to the full-step teacher")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.5), squeeze=False)
    curves = {}  # one per (model, steps): its full depth and budgets
    for name, r in results.items():
        if r.get("macs_per_utt"):
            curves.setdefault(name.split("_L")[0], []).append((r["macs_per_utt"], r))
    for ax, (metric, label) in zip(axes[0], metrics):
        for curve, points in curves.items():
            points = sorted((m, r[metric], r.get("layer_budget")) for m, r in points if r.get(metric) is not None)
            if not points:
                continue
            style = "s--" if curve.split("_")[0] in ("teacher", "student") else "o-"  # layer students solid
            ax.plot([p[0] for p in points], [p[1] for p in points], style, label=curve)
            for macs, value, blocks in points:
                ax.annotate(f"L{blocks}", (macs, value), fontsize=6, textcoords="offset points", xytext=(3, 3))
        for name, r in results.items():
            if r.get("role") == "reference" and r.get(metric) is not None:
                ax.axhline(r[metric], color="k", ls=":", label=name)
        fastpitch = results.get("fastpitch")
        if fastpitch is not None and fastpitch.get(metric) is not None:
            ax.axhline(fastpitch[metric], color="r", ls="--", label="plain FastPitch")
        label_steps_axis(ax, label)
        ax.set_xscale("log", base=10)
        ax.set_xlabel("MACs per 200-frame utterance (denoiser calls x MACs per call)")
    save_figure(fig, path)
