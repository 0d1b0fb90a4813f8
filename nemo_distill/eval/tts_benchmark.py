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

"""Benchmark rows for a DiffusionSpectrogramGenerator: quality, cost and intelligibility of every decoder variant.

A *system* is one way of turning text into a mel: the recording itself (ceiling), the recording's mel through the
vocoder (vocoder ceiling), a separately trained plain FastPitch, the generator's own FastPitch decoder ("coarse"),
or the diffusion decoder at one (sampler, steps). Two passes over held-out utterances:

* teacher-forced (aligner durations, so frames line up with the recording): per-utterance mel L1 and the Frechet
  distance between the Gaussian statistics of generated and recorded mel frames (80-dim, like FID on frames);
* free-running synthesis from text: denoiser calls (counted), ms per utterance, real-time factor (synthesis time /
  audio duration, vocoder excluded), and WER of the vocoded audio by an offline recogniser when one is given.
"""

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from nemo_distill.diffusion import SamplingOptions
from nemo_distill.eval.distances import frechet_distance
from nemo_distill.eval.tts_metrics import masked_mel_l1, teacher_forced_batches, word_error_rate
from nemo_distill.eval.tts_report import format_table, plot_distillation, plot_results, table_rows, write_csv

__all__ = [
    "System", "default_systems", "distillation_systems", "format_table", "pairwise_seed_distance",
    "plot_distillation", "plot_results",
    "run_benchmark", "table_rows", "write_csv",
]


@dataclass(frozen=True)
class System:
    """One benchmark row. ``kind``: ``recording``, ``recording_mel``, ``fastpitch``, ``coarse`` or ``diffusion``;
    ``model``: for ``diffusion``, the key of another generator in ``run_benchmark(models=...)`` (a distilled
    student; it shares the teacher's front-end), or None for the benchmarked model itself; ``role``: how the
    distillation report groups it (``teacher``, ``naive``, ``student``); ``layer_budget``: residual blocks per
    denoiser call (None: the model's default); ``full_depth``: the name of the system this one's teacher-forced mel
    is compared with from the same noise (``l1_to_full_depth``, e.g. the same model at full depth)."""

    name: str
    kind: str
    steps: int = 0
    sampler: Optional[str] = None
    model: Optional[str] = None
    role: Optional[str] = None
    layer_budget: Optional[int] = None
    full_depth: Optional[str] = None


def default_systems(steps: Sequence[int], samplers: Sequence[str], with_fastpitch: bool) -> List[System]:
    systems = [System("recording", "recording"), System("recording_mel", "recording_mel")]
    if with_fastpitch:
        systems.append(System("fastpitch", "fastpitch"))
    systems.append(System("coarse", "coarse"))
    systems += [System(f"{sampler}_{k}", "diffusion", k, sampler) for sampler in samplers for k in steps]
    return systems


def distillation_systems(teacher_steps: int, students: Dict[str, int], with_fastpitch: bool,
                         rows: Optional[Dict[str, str]] = None, twice: Sequence[str] = (),
                         with_coarse: bool = False) -> List[System]:
    """The distillation report: the calibration rows (the recording; its mel through each vocoder), the teacher at
    ``teacher_steps``, then for each step count k of the students (key -> k) the teacher sampled naively with k DDIM
    steps and every student of k steps, in the row its method names (``rows``: key -> e.g. ``student``, ``dmd``;
    default ``student``; ``<row>_k``, with the file name's first word added when two share one); the students of
    ``twice`` also at 2k steps (a consistency model samples in more steps too); plus the plain-FastPitch reference
    and, ``with_coarse``, the teacher's own front-end's coarse mel (no diffusion)."""
    rows = rows or {}
    systems = [System("recording", "recording"), System("recording_mel", "recording_mel")]
    if with_fastpitch:
        systems.append(System("fastpitch", "fastpitch"))
    if with_coarse:
        systems.append(System("coarse", "coarse"))
    systems.append(System(f"teacher_{teacher_steps}", "diffusion", teacher_steps, "ddim", role="teacher"))
    by_steps: Dict[int, List[str]] = {}
    for key, k in students.items():
        by_steps.setdefault(k, []).append(key)
        if key in twice:
            by_steps.setdefault(2 * k, []).append(key)
    for k in sorted(by_steps, reverse=True):
        systems.append(System(f"naive_{k}", "diffusion", k, "ddim", role="naive"))
        rows_k = {key: rows.get(key, "student") for key in by_steps[k]}
        for key, row in rows_k.items():
            name = f"{row}_{k}"
            if list(rows_k.values()).count(row) > 1:  # two students of one stage and steps: told apart by file name
                name += "_" + os.path.splitext(os.path.basename(str(key)))[0].split("_")[0]
            systems.append(System(name, "diffusion", k, "ddim", model=key, role=row))
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise ValueError(f"two students would share a row name ({sorted(n for n in names if names.count(n) > 1)}): "
                         "give their distillations different names")
    return systems


@dataclass
class _Accumulator:
    mel_l1: List[float] = field(default_factory=list)
    frames: List[torch.Tensor] = field(default_factory=list)
    l1_to_reference: List[float] = field(default_factory=list)
    l1_to_full_depth: List[float] = field(default_factory=list)
    diversity: List[float] = field(default_factory=list)


def pairwise_seed_distance(mels: Sequence[torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
    """Diversity: the mean over seed pairs of the mel L1 between two renditions ``[B, n_mels, T]`` of the same
    utterances (same durations, different noise); ``[B]``."""
    pairs = [masked_mel_l1(a, b, lengths) for i, a in enumerate(mels) for b in mels[i + 1:]]
    return torch.stack(pairs).mean(dim=0)


def _valid_frames(mel: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``[B, n_mels, T]`` -> the valid frames of all utterances, ``[sum(lengths), n_mels]``."""
    return torch.cat([mel[i, :, : int(n)].T for i, n in enumerate(lengths)]).double().cpu()


class _CallCounter:
    """Counts forward calls of a module (the denoiser) while active."""

    def __init__(self, module: Optional[torch.nn.Module]):
        self.module, self.calls, self._handle = module, 0, None

    def __enter__(self):
        if self.module is not None:
            self._handle = self.module.register_forward_hook(lambda *_: setattr(self, "calls", self.calls + 1))
        return self

    def __exit__(self, *exc):
        if self._handle is not None:
            self._handle.remove()


@torch.no_grad()
def run_benchmark(
    model,
    dataloader,
    rows: Sequence[Dict],
    systems: Sequence[System],
    vocoders: Dict[str, Callable[[np.ndarray], np.ndarray]],
    judge=None,
    fastpitch=None,
    seed: int = 0,
    t_start: Optional[float] = None,
    temperature: Optional[float] = None,
    audio_dir: Optional[str] = None,
    audio_examples: int = 3,
    load_audio: Optional[Callable[[str], np.ndarray]] = None,
    progress: Optional[Callable] = None,
    models: Optional[Dict] = None,
    reference: Optional[str] = None,
    perceptual_judge=None,
    diversity_seeds: int = 0,
) -> Dict[str, Dict]:
    """Measure every system; returns ``{system name: metrics}``.

    model: a ``DiffusionSpectrogramGenerator`` in eval mode; dataloader: its ``TTSDataset`` loader over ``rows``
    (the manifest entries, in order, not shuffled); vocoders: name -> function ``log-mel [n_mels, T] -> audio``;
    judge: an object with ``transcribe(audio, sample_rate) -> str`` or None (no WER); fastpitch: a plain NeMo
    ``FastPitchModel`` trained on the same corpus, for the ``fastpitch`` row; audio_dir: where the first
    ``audio_examples`` utterances of each (system, vocoder) are written as wav for listening; models: key ->
    another generator (distilled students) for systems with ``model`` set; reference: the name of a diffusion
    system (e.g. the full-step teacher) whose teacher-forced mel, from the same noise, every diffusion row is also
    compared with (``l1_to_reference``); perceptual_judge: an object with ``score(audio, sample_rate) -> {name:
    value}`` (e.g. :class:`~nemo_distill.eval.tts_metrics.DnsmosJudge`) or None: the mean of each score per vocoder
    (``dnsmos``); diversity_seeds: ``S >= 2`` also decodes every diffusion row's teacher-forced utterances with S
    seeds and reports the mean pairwise mel L1 between them (``diversity``; 0 for a model that ignores its noise).
    """
    models = dict(models or {})
    sampling = {"t_start": t_start, "temperature": temperature}  # None: each model's own default
    progress = progress or (lambda iterable, **_: iterable)
    teacher_forced = {s.name: _Accumulator() for s in systems if s.kind not in ("recording", "recording_mel")}
    target_frames = []
    fastpitch_batches = teacher_forced_batches(fastpitch, dataloader) if fastpitch is not None else None
    # the reference first, then the full-depth systems others are compared with, to compare the others to
    compared_with = {s.full_depth for s in systems if s.full_depth}
    ordered = sorted(systems, key=lambda s: (s.name != reference, s.name not in compared_with))
    for cond, coarse, target, lengths in progress(teacher_forced_batches(model, dataloader), desc="teacher-forced"):
        target_frames.append(_valid_frames(target, lengths))
        plain = next(fastpitch_batches) if fastpitch_batches is not None else None
        reference_mel, full_depth_mels = None, {}
        for system in ordered:
            if system.kind == "coarse":
                mel, mel_lengths = coarse, lengths
            elif system.kind == "fastpitch":
                _, mel, _, mel_lengths = plain
                mel_lengths = torch.minimum(mel_lengths, lengths)
            elif system.kind == "diffusion":
                generator = models[system.model] if system.model else model
                mel = generator.decoder.decode(cond, coarse, lengths, SamplingOptions(
                    steps=system.steps, sampler=system.sampler, seed=seed, layer_budget=system.layer_budget,
                    **sampling))
                mel_lengths = lengths
                if system.name == reference:
                    reference_mel = mel
                elif reference_mel is not None:
                    teacher_forced[system.name].l1_to_reference += masked_mel_l1(mel, reference_mel, lengths).tolist()
                if system.name in compared_with:
                    full_depth_mels[system.name] = mel
                if system.full_depth:
                    teacher_forced[system.name].l1_to_full_depth += masked_mel_l1(
                        mel, full_depth_mels[system.full_depth], lengths).tolist()
                if diversity_seeds >= 2:
                    renditions = [mel] + [generator.decoder.decode(cond, coarse, lengths, SamplingOptions(
                        steps=system.steps, sampler=system.sampler, seed=seed + 1000 * j,
                        layer_budget=system.layer_budget, **sampling)) for j in range(1, diversity_seeds)]
                    teacher_forced[system.name].diversity += pairwise_seed_distance(renditions, lengths).tolist()
            else:
                continue
            frames = min(mel.shape[-1], target.shape[-1])
            accumulator = teacher_forced[system.name]
            accumulator.mel_l1 += masked_mel_l1(mel[..., :frames], target[..., :frames], mel_lengths).tolist()
            accumulator.frames.append(_valid_frames(mel, mel_lengths))
    target_frames = torch.cat(target_frames)

    sample_rate = model.cfg.sample_rate
    frame_seconds = model.cfg.n_window_stride / sample_rate
    references = [row["text"] for row in rows]
    results = {}
    for system in progress(systems, desc="systems"):
        result = {"kind": system.kind, "steps": system.steps, "sampler": system.sampler}
        if system.name in teacher_forced:
            accumulator = teacher_forced[system.name]
            result["mel_l1"] = float(np.mean(accumulator.mel_l1))
            result["mel_fd"] = frechet_distance(torch.cat(accumulator.frames), target_frames)
            if accumulator.l1_to_reference:
                result["l1_to_reference"] = float(np.mean(accumulator.l1_to_reference))
            if accumulator.l1_to_full_depth:
                result["l1_to_full_depth"] = float(np.mean(accumulator.l1_to_full_depth))
            if accumulator.diversity:
                result["diversity"] = float(np.mean(accumulator.diversity))
        if system.name == reference:
            result["l1_to_reference"] = 0.0
        if system.role:
            result["role"] = system.role
        if system.kind == "diffusion":
            result["model"] = system.model
            result["layer_budget"] = system.layer_budget
        hypotheses = {"recording": []} if system.kind == "recording" else {name: [] for name in vocoders}
        scores = {name: [] for name in hypotheses}
        seconds = audio_seconds = 0.0
        generator = models[system.model] if system.model else model
        with _CallCounter(getattr(getattr(generator, "decoder", None), "denoiser", None)) as counter:
            for i, row in enumerate(rows):
                if system.kind == "recording":  # the recogniser's ceiling: the recorded audio itself
                    audio = load_audio(row["audio_filepath"])
                    if judge is not None:
                        hypotheses["recording"].append(judge.transcribe(audio, sample_rate))
                    if perceptual_judge is not None:
                        scores["recording"].append(perceptual_judge.score(audio, sample_rate))
                    _save_example(audio_dir, system.name, "recording", i, audio, sample_rate, audio_examples)
                    continue
                mel, synthesis_seconds = _synthesize(generator, fastpitch, system, row, seed + i, load_audio,
                                                     **sampling)
                seconds += synthesis_seconds
                audio_seconds += mel.shape[-1] * frame_seconds
                if judge is None and perceptual_judge is None and not _keeps_example(audio_dir, i, audio_examples):
                    continue  # no judge hears it and no example is written: the vocoder's time is not spent
                for vocoder_name, vocode in vocoders.items():
                    audio = vocode(mel)
                    if judge is not None:
                        hypotheses[vocoder_name].append(judge.transcribe(audio, sample_rate))
                    if perceptual_judge is not None:
                        scores[vocoder_name].append(perceptual_judge.score(audio, sample_rate))
                    _save_example(audio_dir, system.name, vocoder_name, i, audio, sample_rate, audio_examples)
        if system.kind not in ("recording", "recording_mel"):
            result["denoiser_calls"] = counter.calls / len(rows)
            result["ms_per_utt"] = 1000 * seconds / len(rows)
            result["rtf"] = seconds / audio_seconds
        if judge is not None:
            result["wer"] = {name: word_error_rate(references, hyps) for name, hyps in hypotheses.items() if hyps}
            result["examples"] = {name: hyps[:3] for name, hyps in hypotheses.items() if hyps}
        if perceptual_judge is not None:
            result["dnsmos"] = {name: {key: float(np.mean([s[key] for s in values])) for key in values[0]}
                                for name, values in scores.items() if values}
        results[system.name] = result
    return results


def _synthesize(model, fastpitch, system: System, row: Dict, seed: int, load_audio, **sampling):
    """Free-running mel ``[n_mels, T]`` (numpy) of one utterance and the seconds its synthesis took."""
    if system.kind == "recording_mel":
        audio = torch.as_tensor(load_audio(row["audio_filepath"]), dtype=torch.float32)[None].to(model.device)
        mel, length = model.preprocessor(input_signal=audio, length=torch.tensor([audio.shape[1]], device=model.device))
        return mel[0, :, : int(length[0])].cpu().numpy(), 0.0
    source = fastpitch if system.kind == "fastpitch" else model
    tokens = source.parse(row["text"])
    start = time.perf_counter()
    if system.kind == "fastpitch":
        mel = fastpitch.generate_spectrogram(tokens=tokens)[0]
    elif system.kind == "coarse":
        mel = model.generate_coarse_spectrogram(tokens)[0]
    else:
        options = SamplingOptions(steps=system.steps, sampler=system.sampler, seed=seed,
                                  layer_budget=system.layer_budget, **sampling)
        mels, lengths = model.generate_spectrogram(tokens, options=options, return_lengths=True)
        mel = mels[0, :, : int(lengths[0])]
    return mel.cpu().numpy(), time.perf_counter() - start


def _keeps_example(audio_dir, index, count) -> bool:
    """Whether utterance ``index`` is written as an example wav (the first ``count``, when there is a folder)."""
    return audio_dir is not None and index < count


def _save_example(audio_dir, system_name, vocoder_name, index, audio, sample_rate, count):
    if not _keeps_example(audio_dir, index, count):
        return
    import soundfile as sf

    folder = os.path.join(audio_dir, system_name)
    os.makedirs(folder, exist_ok=True)
    sf.write(os.path.join(folder, f"{index:02d}_{vocoder_name}.wav"), audio, sample_rate)
