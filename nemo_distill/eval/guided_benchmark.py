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

"""Single-backbone classifier-guided generation against the two-model baseline: cost and quality, one run.

Cost per sampling step (one batch of ``batch`` samples, one per class in turn): multiply-accumulates counted by
``torch.utils.flop_counter.FlopCounterMode`` (forward and, for guidance, the classifier's backward; per sample),
peak memory of the tensors the step allocates (:class:`~nemo_distill.eval.peak_memory.PeakTensorMemory`) plus the
model's weights, and wall-clock ms (median of repeats). Quality, judged by an independent clean-clip classifier
(never the backbone; ``conf/digit_judge.yaml``) on the log-mels: accuracy of generated digits against the requested
class, Frechet distance between the judge's embeddings of generated and real clips, and per-class diversity (mean
pairwise embedding distance within a class, generated over real).
"""

import statistics
import time
from typing import Dict, List, Optional, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from nemo_distill.eval.distances import frechet_distance
from nemo_distill.eval.peak_memory import PeakTensorMemory, module_bytes
from nemo_distill.data.labelled_audio import clip_mel_mismatch

__all__ = ["JudgeFeatures", "check_same_mels", "diversity", "format_tables", "generate_all", "parameter_counts",
           "plot_benchmark", "quality_row", "real_log_mels", "requested_labels", "step_cost"]


def parameter_counts(model: torch.nn.Module) -> Dict[str, int]:
    """``{"total": ..., "trainable": ...}`` parameters (the frozen classifier counts in total only)."""
    return {"total": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def step_cost(model, batch: int, guidance_scale: float, repeats: int = 5, log_snr: float = 0.0) -> Dict[str, float]:
    """MACs per sample, peak memory (MB: step tensors + weights) and ms of one denoiser step of ``model`` (a
    ``GuidedMelDiffusion``) on ``batch`` samples, guided when ``guidance_scale`` is not 0."""
    n_mels, frames = int(model.frozen_classifier.n_mels), int(model.mel_section.frames)
    generator = torch.Generator(device=model.device).manual_seed(0)
    z_t = torch.randn(batch, n_mels, frames, generator=generator, device=model.device)
    log_snrs = torch.full((batch,), float(log_snr), device=model.device)
    labels = torch.arange(batch, device=model.device) % len(model.labels)
    step = model.denoiser(labels if guidance_scale else None, guidance_scale)

    with torch.no_grad():
        with FlopCounterMode(display=False) as flops:
            step(z_t, log_snrs)
        with PeakTensorMemory() as memory:
            step(z_t, log_snrs)
        step(z_t, log_snrs)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step(z_t, log_snrs)
            times.append(time.perf_counter() - start)
    weights = module_bytes(model)
    return {"macs_per_sample": flops.get_total_flops() / 2 / batch,
            "peak_mb": (memory.peak_bytes + weights) / 2**20,
            "weights_mb": weights / 2**20,
            "ms_per_step": 1000 * statistics.median(times)}


class JudgeFeatures:
    """Logits and embeddings of log-mels ``[B, n_mels, frames]`` under the judge (a ``NoisyClassifierModel``
    whose classifier has ``embed`` and ``head``, e.g. ``MatchboxMelClassifier``), in its own normalisation."""

    def __init__(self, judge, batch_size: int = 64):
        if not (hasattr(judge.classifier, "embed") and hasattr(judge.classifier, "head")):
            raise TypeError(f"the judge's classifier {type(judge.classifier).__name__} has no embed()/head(); use "
                            "conf/digit_judge.yaml (MatchboxMelClassifier)")
        self.judge, self.batch_size = judge.eval(), int(batch_size)

    @torch.no_grad()
    def __call__(self, log_mels: torch.Tensor):
        """``(logits [B, classes], embeddings [B, D])``."""
        classifier = self.judge.classifier
        logits, embeddings = [], []
        for chunk in log_mels.split(self.batch_size):
            embedding = classifier.embed(self.judge.mel.normalize(chunk.to(self.judge.device)))
            embeddings.append(embedding.cpu())
            logits.append(classifier.head(embedding).cpu())
        return torch.cat(logits), torch.cat(embeddings)


def diversity(embeddings: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes of the mean pairwise L2 distance between the embeddings ``[N, D]`` of one class."""
    per_class = []
    for label in labels.unique():
        group = embeddings[labels == label].double()
        if len(group) >= 2:
            distances = torch.cdist(group, group)
            per_class.append(float(distances.sum() / (len(group) * (len(group) - 1))))
    if not per_class:
        raise ValueError("diversity needs at least two samples of one class")
    return sum(per_class) / len(per_class)


def quality_row(judge: JudgeFeatures, log_mels: torch.Tensor, requested: torch.Tensor,
                real_embeddings: torch.Tensor, real_labels: torch.Tensor) -> Dict[str, float]:
    """Judge accuracy against ``requested`` ``[N]`` (overall and per requested class, ``None`` for a class not
    requested), Frechet distance to the real embeddings, diversity relative to the real clips' (1 = as varied as the
    recordings)."""
    logits, embeddings = judge(log_mels)
    correct = (logits.argmax(-1) == requested).float()
    per_class = [float(correct[requested == c].mean()) if bool((requested == c).any()) else None
                 for c in range(logits.shape[-1])]
    return {"accuracy": float(correct.mean()), "accuracy_per_class": per_class,
            "frechet": frechet_distance(embeddings, real_embeddings),
            "diversity": diversity(embeddings, requested) / diversity(real_embeddings, real_labels)}


def _fmt(value: Optional[float], digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_tables(cost: Dict[str, Dict], quality: List[Dict]) -> str:
    """Markdown: the cost table (one row per system, ratios to the last system) and the quality table."""
    names = list(cost)
    base = cost[names[-1]]
    lines = ["| system | params total | params trained | MACs / step (guided) | MACs / step (unguided) | "
             "peak MB / step | ms / step | total params vs baseline | guided MACs vs baseline |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in names:
        row = cost[name]
        lines.append(
            f"| {name} | {row['params']['total']:,} | {row['params']['trainable']:,} | "
            f"{row['guided']['macs_per_sample'] / 1e6:.1f} M | {row['unguided']['macs_per_sample'] / 1e6:.1f} M | "
            f"{row['guided']['peak_mb']:.1f} | {row['guided']['ms_per_step']:.1f} | "
            f"{row['params']['total'] / base['params']['total']:.0%} | "
            f"{row['guided']['macs_per_sample'] / base['guided']['macs_per_sample']:.0%} |")
    lines += ["", "| system | guidance scale | judge accuracy | Frechet distance | diversity vs real |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for row in quality:
        scale = "-" if row.get("guidance_scale") is None else f"{row['guidance_scale']:g}"
        lines.append(f"| {row['system']} | {scale} | {_fmt(row.get('accuracy'), 3)} | "
                     f"{_fmt(row.get('frechet'), 2)} | {_fmt(row.get('diversity'), 2)} |")
    return "\n".join(lines)


def plot_benchmark(cost: Dict[str, Dict], quality: List[Dict], path: str) -> None:
    """Accuracy and Frechet distance vs guidance scale (one curve per system, real clips as a line) and the cost
    ratios to the baseline (the last system)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    systems = list(cost)
    for name in systems:
        rows = [r for r in quality if r["system"] == name]
        scales = [r["guidance_scale"] for r in rows]
        axes[0].plot(scales, [r["accuracy"] for r in rows], marker="o", label=name)
        axes[1].plot(scales, [r["frechet"] for r in rows], marker="o", label=name)
    for row in quality:
        if row["system"].startswith("real"):
            if row.get("accuracy") is not None:
                axes[0].axhline(row["accuracy"], color="gray", linestyle="--", label=row["system"])
            if row.get("frechet") is not None:
                axes[1].axhline(row["frechet"], color="gray", linestyle=":", label=row["system"])
    axes[0].set(xlabel="guidance scale", ylabel="judge accuracy", title="generated digits recognised")
    axes[1].set(xlabel="guidance scale", ylabel="Frechet distance (judge embedding)", title="realism (lower is better)")
    metrics = [("params", lambda r: r["params"]["total"]), ("MACs/step", lambda r: r["guided"]["macs_per_sample"]),
               ("peak MB", lambda r: r["guided"]["peak_mb"]), ("ms/step", lambda r: r["guided"]["ms_per_step"])]
    width = 0.8 / len(systems)
    for i, name in enumerate(systems):
        ratios = [get(cost[name]) / get(cost[systems[-1]]) for _, get in metrics]
        axes[2].bar([j + i * width for j in range(len(metrics))], ratios, width=width, label=name)
    axes[2].axhline(0.6, color="gray", linestyle="--", label="60% target")
    axes[2].set_xticks([j + width * (len(systems) - 1) / 2 for j in range(len(metrics))], [m for m, _ in metrics])
    axes[2].set(ylabel=f"relative to {systems[-1]}", title="cost per guided sampling step")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def requested_labels(num_classes: int, samples_per_class: int) -> torch.Tensor:
    """``[num_classes * samples_per_class]`` class ids, every class in turn (0, 1, ..., 9, 0, 1, ...)."""
    return torch.arange(num_classes).repeat(samples_per_class)


def generate_all(model, labels: torch.Tensor, steps: int, guidance_scale: float, batch_size: int,
                 seed: int, progress=None, guidance_interval=None, sampler=None) -> torch.Tensor:
    """Log-mels ``[N, n_mels, frames]`` for ``labels`` ``[N]`` in batches; batch ``i`` uses seed ``seed + i`` (the
    same noise for every system and scale); ``guidance_interval`` and ``sampler`` as ``GuidedMelDiffusion.generate``'s."""
    out = []
    for i, chunk in enumerate(labels.split(batch_size)):
        out.append(model.generate(chunk.tolist(), steps=steps, guidance_scale=guidance_scale, seed=seed + i,
                                  guidance_interval=guidance_interval, sampler=sampler).cpu())
        if progress is not None:
            progress.update(len(chunk))
    return torch.cat(out)


def real_log_mels(judge, loader) -> tuple:
    """``(log_mels [N, n_mels, frames], labels [N])`` of a classification loader's clips in the judge's mel space."""
    mels, labels = [], []
    with torch.no_grad():
        for audio, audio_lens, label, _ in loader:
            mels.append(judge.mel.log_mel(judge.mel(audio.to(judge.device), audio_lens.to(judge.device))).cpu())
            labels.append(label)
    return torch.cat(mels), torch.cat(labels)


def check_same_mels(judge, models: Sequence) -> None:
    """ValueError when a generator's log-mels are not the judge's kind (sample rate, mel bins, frames, preprocessor):
    its accuracy would mean nothing. Each normalises log-mels its own way, so ``mel_mean``/``mel_scale`` may differ."""
    for model in models:
        mismatch = clip_mel_mismatch(model.mel_settings, judge.mel_settings)
        differing = {key: values for key, values in mismatch.items() if key not in ("mel_mean", "mel_scale")}
        if differing:
            raise ValueError(f"{type(model).__name__} and the judge compute different mels: " + "; ".join(
                f"{key}: generator {a}, judge {b}" for key, (a, b) in differing.items()))
