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

"""Build a synthetic TTS corpus: wavs from a TTS engine plus NeMo JSON-lines manifests for train/val/test.

Layout written by :func:`build_corpus`::

    out_dir/wavs/spk{speaker:02d}_{hash}.wav   mono 16-bit PCM at sample_rate Hz, silence-trimmed, peak-normalised
    out_dir/{train,val,test}_manifest.json     one JSON object per line: audio_filepath (absolute), text,
                                               normalized_text (= text), duration (s, from the wav), speaker (int)
    out_dir/corpus.json                        settings, speakers (id -> engine voice), counts, failures

A wav's name hashes its text, engine voice, sample rate and post-processing, so a rerun reuses every finished wav
(a readable, complete wav: :func:`~corpus_builders.engines.is_complete_wav`) untouched and only synthesises
missing, truncated or corrupt ones, or those whose settings changed. Every file is written to a temporary name in
its folder and renamed (``os.replace``), so an interrupted run leaves no half-written wav or manifest behind.
Splits are a seeded shuffle of the de-duplicated texts, hence disjoint by text. Utterances the engine fails on are
skipped, listed in the summary and in ``corpus.json``. No NeMo import.
"""

import hashlib
import json
import math
import os
import random
import time
import wave
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from corpus_builders.engines import TTSEngine, is_complete_wav
from nemo_distill.utils.files import write_text_atomic
from nemo_distill.utils.locks import folder_lock

__all__ = ["SPLITS", "CorpusSummary", "Utterance", "build_corpus", "plan_corpus", "read_manifest", "split_counts",
           "trim_and_normalize", "wav_name"]

SPLITS = ("train", "val", "test")
PathLike = Union[str, Path]


@dataclass(frozen=True)
class Utterance:
    """One planned utterance: position in the shuffled text order, text, speaker id, split, final wav path."""

    index: int
    text: str
    speaker: int
    split: str
    wav_path: Path


@dataclass
class CorpusSummary:
    """What :func:`build_corpus` did. ``seconds`` is audio per split (s); ``failed`` holds (text, error) pairs."""

    out_dir: Path
    manifests: Dict[str, Path]
    counts: Dict[str, int]
    seconds: Dict[str, float]
    synthesized: int
    reused: int
    failed: List[Tuple[str, str]] = field(default_factory=list)
    duplicates_dropped: int = 0
    elapsed_s: float = 0.0

    @property
    def total_minutes(self) -> float:
        return sum(self.seconds.values()) / 60.0


# ------------------------------------------------------------------------------------------------ post-processing


def trim_and_normalize(audio, sample_rate: int, top_db: float = 40.0, pad_s: float = 0.05, peak: float = 0.95,
                       frame_s: float = 0.025):
    """Trim leading/trailing silence and scale to a peak of ``peak`` (0.95 = -0.45 dBFS).

    audio: float ``[T]`` in [-1, 1] at ``sample_rate`` Hz. Frames (``frame_s`` long, hop half that) quieter than
    ``top_db`` below the loudest frame's RMS count as silence; the voiced part keeps ``pad_s`` seconds of margin on
    each side (zero-padded where the engine gave less), with 5 ms fades at the cuts. Returns float32 ``[T']``.
    Raises ``ValueError`` for silent audio (peak below -60 dBFS).
    """
    import numpy as np

    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-3:
        raise ValueError("silent audio (peak below -60 dBFS)")
    frame = max(1, int(frame_s * sample_rate))
    hop = max(1, frame // 2)
    power = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    starts = np.arange(0, max(1, audio.size - frame + 1), hop)
    ends = np.minimum(starts + frame, audio.size)
    rms = np.sqrt((power[ends] - power[starts]) / (ends - starts))
    voiced = np.flatnonzero(20.0 * np.log10(np.maximum(rms, 1e-10) / rms.max()) > -top_db)
    v0, v1 = int(starts[voiced[0]]), int(ends[voiced[-1]])  # voiced span, at frame resolution
    # refine to the first/last sample above the threshold inside that span (isolated clicks outside it stay out)
    loud = np.flatnonzero(np.abs(audio[v0:v1]) > np.abs(audio).max() * 10.0 ** (-top_db / 20.0))
    if loud.size:
        v0, v1 = v0 + int(loud[0]), v0 + int(loud[-1]) + 1
    pad = int(pad_s * sample_rate)
    begin, end = max(0, v0 - pad), min(audio.size, v1 + pad)
    audio = audio[begin:end].copy()
    fade = min(audio.size // 2, int(0.005 * sample_rate))  # 5 ms fades: no click where the cut is not silent
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        audio[:fade] *= ramp
        audio[-fade:] *= ramp[::-1]
    # exactly pad_s of margin on both sides, padding with zeros where the engine gave less
    audio = np.concatenate([np.zeros(pad - (v0 - begin), np.float32), audio, np.zeros(pad - (end - v1), np.float32)])
    return (audio * (peak / float(np.max(np.abs(audio))))).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------- planning


def split_counts(num: int, splits: Sequence[Union[int, float]] = (0.9, 0.05, 0.05)) -> Tuple[int, int, int]:
    """Utterances per split (train, val, test) for ``num`` texts.

    ``splits``: three integers (exact counts, summing to at most ``num``; texts beyond are unused) or three
    non-negative fractions (normalised by their sum). With fractions, a split of positive fraction gets at least
    one utterance while ``num`` allows it; train takes the rest.
    """
    if len(splits) != 3 or any(s < 0 for s in splits):
        raise ValueError(f"splits must be three non-negative numbers (train, val, test), got {tuple(splits)}")
    if all(isinstance(s, int) for s in splits):
        if sum(splits) > num:
            raise ValueError(f"split counts {tuple(splits)} need {sum(splits)} texts, only {num} available")
        return tuple(int(s) for s in splits)  # type: ignore[return-value]
    total = float(sum(splits))
    if total <= 0:
        raise ValueError(f"split fractions must not all be zero, got {tuple(splits)}")
    n_val, n_test = (int(round(num * s / total)) for s in splits[1:])
    positive = sum(1 for s in splits if s > 0)
    if num >= positive:
        n_val, n_test = (max(n, 1) if s > 0 else 0 for n, s in zip((n_val, n_test), splits[1:]))
    n_train = num - n_val - n_test
    if splits[0] == 0:
        n_train = 0
    elif n_train < 1 and num >= positive:  # keep one for train: take it from the larger of val/test
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
        n_train = num - n_val - n_test
    return n_train, n_val, n_test


def wav_name(prefix: str, engine: TTSEngine, voice: Mapping[str, Any], text: str, sample_rate: int,
             post: Mapping[str, Any]) -> str:
    """``{prefix}_{hash}.wav``, the hash over everything that determines the audio (engine and voice identity, text,
    sample rate, post-processing): a rerun finds a finished wav under the same name, a changed setting does not."""
    key = json.dumps([engine.identity(voice), text, sample_rate, dict(post)], sort_keys=True)
    return f"{prefix}_{hashlib.sha1(key.encode('utf-8')).hexdigest()[:12]}.wav"


def plan_corpus(out_dir: PathLike, engine: TTSEngine, texts: Sequence[str], voices: Sequence[Mapping[str, Any]],
                splits=(0.9, 0.05, 0.05), sample_rate: int = 22050, seed: int = 0,
                post: Optional[Mapping[str, Any]] = None) -> Tuple[List[Utterance], int]:
    """The utterances :func:`build_corpus` writes, and how many duplicate texts were dropped.

    Texts are whitespace-normalised and de-duplicated (first occurrence kept), shuffled with ``random.Random(seed)``
    and cut into train/val/test (:func:`split_counts`); speakers are assigned round-robin along the shuffled order,
    so every split gets a balanced mix.
    """
    unique: Dict[str, None] = {}
    for t in texts:
        t = " ".join(str(t).split())
        if t:
            unique.setdefault(t, None)
    ordered = list(unique)
    dropped = len(texts) - len(ordered)
    random.Random(seed).shuffle(ordered)
    counts = split_counts(len(ordered), splits)
    wav_dir = Path(out_dir).resolve() / "wavs"
    utterances = []
    index = 0
    for split, count in zip(SPLITS, counts):
        for text in ordered[index:index + count]:
            speaker = index % len(voices)
            name = wav_name(f"spk{speaker:02d}", engine, voices[speaker], text, sample_rate, post or {})
            utterances.append(Utterance(index, text, speaker, split, wav_dir / name))
            index += 1
    return utterances, dropped


# ---------------------------------------------------------------------------------------------------------- writing


def _remove_stale_temps(wav_dir: Path) -> None:
    """Delete temp files (``.NAME.PID.TID.tmp``) left by killed runs whose process no longer exists."""
    for tmp in wav_dir.glob(".*.tmp"):
        try:
            pid = int(tmp.name.split(".")[-3])
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, IndexError, PermissionError, OSError):
            continue


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def read_manifest(path: PathLike) -> List[Dict[str, Any]]:
    """The entries of a NeMo JSON-lines manifest (one JSON object per non-blank line)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build_corpus(
    out_dir: PathLike,
    engine: TTSEngine,
    texts: Sequence[str],
    voices: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
    splits: Sequence[Union[int, float]] = (0.9, 0.05, 0.05),
    sample_rate: int = 22050,
    seed: int = 0,
    num_workers: int = 2,
    batch_size: Optional[int] = None,
    trim_top_db: float = 40.0,
    trim_pad_s: float = 0.05,
    peak: float = 0.95,
    progress: bool = True,
) -> CorpusSummary:
    """Synthesise ``texts`` with ``engine`` into ``out_dir`` and write NeMo manifests (see the module docstring).

    Args:
        out_dir: corpus folder (created).
        engine: a :class:`~corpus_builders.engines.TTSEngine` (checked with ``check_available`` first).
        texts: sentences; duplicates are dropped so that splits are disjoint by text.
        voices: engine voice parameters per speaker id (``voices[i]`` is speaker ``i``); ``None``: one speaker
            with the engine's default voice.
        splits: (train, val, test) fractions or counts, see :func:`split_counts`.
        sample_rate: output sample rate in Hz.
        seed: shuffling seed (which text goes to which split and speaker).
        num_workers: batches synthesised concurrently (each batch runs its own engine child processes).
        batch_size: utterances per batch; default ``min(engine.preferred_batch_size, ceil(pending / num_workers))``.
        trim_top_db, trim_pad_s, peak: post-processing, see :func:`trim_and_normalize`.
        progress: show a tqdm progress bar.
    """
    with folder_lock(str(out_dir), what="corpus build"):  # one build per folder at a time
        from tqdm.auto import tqdm

        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        start = time.perf_counter()
        engine.check_available()
        voices = [dict(v or {}) for v in (voices or [None])]
        out_dir = Path(out_dir).resolve()
        wav_dir = out_dir / "wavs"
        wav_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(wav_dir)
        post = {"top_db": trim_top_db, "pad_s": trim_pad_s, "peak": peak}
        utterances, dropped = plan_corpus(out_dir, engine, texts, voices, splits, sample_rate, seed, post)

        pending = [u for u in utterances if not is_complete_wav(u.wav_path, sample_rate)]
        reused = len(utterances) - len(pending)
        errors: Dict[int, str] = {}
        if pending:
            size = batch_size or max(1, min(engine.preferred_batch_size, math.ceil(len(pending) / num_workers)))
            batches = [pending[i:i + size] for i in range(0, len(pending), size)]

            def postprocess(audio, sr):
                return trim_and_normalize(audio, sr, top_db=trim_top_db, pad_s=trim_pad_s, peak=peak)

            def run(batch: List[Utterance]) -> List[Optional[str]]:
                items = [(u.text, u.wav_path, voices[u.speaker]) for u in batch]
                return engine.synthesize_batch(items, sample_rate=sample_rate, postprocess=postprocess)

            bar = tqdm(total=len(utterances), initial=reused, unit="utt", desc=f"{engine.name} corpus",
                       disable=not progress, dynamic_ncols=True)
            with ThreadPoolExecutor(max_workers=num_workers) as pool:
                futures = {pool.submit(run, b): b for b in batches}
                try:
                    remaining = set(futures)
                    while remaining:
                        done, remaining = wait(remaining, return_when=FIRST_EXCEPTION)
                        for future in done:
                            batch = futures[future]
                            for u, error in zip(batch, future.result()):  # re-raises an engine's exception
                                if error is not None:
                                    errors[u.index] = error
                            bar.update(len(batch))
                            bar.set_postfix(failed=len(errors))
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
                finally:
                    bar.close()

        entries: Dict[str, List[str]] = {s: [] for s in SPLITS}
        seconds = {s: 0.0 for s in SPLITS}
        failed = []
        for u in utterances:
            if u.index in errors or not is_complete_wav(u.wav_path, sample_rate):
                failed.append((u.text, errors.get(u.index, "no complete wav written")))
                continue
            duration = _wav_seconds(u.wav_path)
            seconds[u.split] += duration
            entry = {"audio_filepath": str(u.wav_path), "text": u.text, "normalized_text": u.text,
                     "duration": round(duration, 6), "speaker": u.speaker}
            entries[u.split].append(json.dumps(entry, ensure_ascii=False))
        manifests = {}
        for split in SPLITS:
            manifests[split] = out_dir / f"{split}_manifest.json"
            write_text_atomic(manifests[split], "".join(line + "\n" for line in entries[split]))
        summary = CorpusSummary(
            out_dir=out_dir, manifests=manifests, counts={s: len(entries[s]) for s in SPLITS}, seconds=seconds,
            synthesized=len(pending) - len(errors), reused=reused, failed=failed, duplicates_dropped=dropped,
            elapsed_s=time.perf_counter() - start)
        info = {
            "engine": engine.name, "sample_rate": sample_rate, "seed": seed, "splits": list(splits),
            "post_processing": post, "speakers": {i: json.loads(engine.identity(v)) for i, v in enumerate(voices)},
            "counts": summary.counts, "seconds": {s: round(v, 3) for s, v in seconds.items()},
            "failed": [{"text": t, "error": e} for t, e in failed], "duplicates_dropped": dropped,
        }
        write_text_atomic(out_dir / "corpus.json", json.dumps(info, indent=2, ensure_ascii=False) + "\n")
        return summary
