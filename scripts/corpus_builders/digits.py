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

"""A spoken-digit corpus ("zero" .. "nine", 1-second clips): the offline stand-in for the SC09 benchmark.

Layout written by :func:`build_digit_corpus`::

    out_dir/wavs/{word}_{hash}.wav             mono 16-bit PCM at sample_rate Hz (16 kHz), exactly clip_s long
    out_dir/{train,val,test}_manifest.json     NeMo speech-classification manifests, one JSON object per line:
                                               audio_filepath, duration, label (the word, NeMo's convention),
                                               label_id (0-9), text, engine, voice
    out_dir/corpus.json                        settings, counts per split and label, failures

Each rendition of a digit is one engine voice drawn from a seeded generator: espeak-ng with a language, a voice
variant (``+m3``, ``+f2``, ``+klatt`` ...), a speed and a pitch, or the Piper voice with its ``length_scale``,
``noise_scale`` and ``noise_w``. Splits are drawn per digit (a seeded shuffle of its renditions), so every split
holds every digit in proportion. Clips are silence-trimmed, peak-normalised and centred in ``clip_s`` seconds
(cropped around their centre if longer). Writes are atomic and a rerun reuses every finished wav, as in
:mod:`corpus_builders.corpus`. No NeMo import.
"""

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from corpus_builders.corpus import SPLITS, split_counts, trim_and_normalize, wav_name
from corpus_builders.engines import TTSEngine, is_complete_wav, make_engine
from nemo_distill.utils.files import write_text_atomic
from nemo_distill.utils.locks import folder_lock

__all__ = ["DIGITS", "ESPEAK_LANGUAGES", "ESPEAK_VARIANTS", "DigitClip", "build_digit_corpus", "fit_clip",
           "plan_digit_corpus", "random_voice"]

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ESPEAK_LANGUAGES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")
ESPEAK_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                   "klatt3", "adam", "andy", "annie", "david", "ed", "john", "linda", "max", "michael", "paul",
                   "robert", "steph", "zac", "grandma", "grandpa", "croak")
PathLike = Union[str, Path]


@dataclass(frozen=True)
class DigitClip:
    """One planned clip: its label (0-9), engine name and voice parameters, split and final wav path."""

    label: int
    engine: str
    voice: Tuple[Tuple[str, Any], ...]
    split: str
    wav_path: Path

    @property
    def word(self) -> str:
        return DIGITS[self.label]


def random_voice(engine: str, rng: random.Random) -> Dict[str, Any]:
    """Voice parameters for one rendition: espeak-ng language+variant, speed (words/min) and pitch (0-99), or
    Piper's length/noise scales."""
    if engine == "espeak":
        variant = rng.choice(ESPEAK_VARIANTS)
        language = rng.choice(ESPEAK_LANGUAGES)
        return {"voice": f"{language}+{variant}" if variant else language, "speed": rng.randint(110, 230),
                "pitch": rng.randint(15, 85)}
    if engine == "piper":
        return {"length_scale": round(rng.uniform(0.7, 1.4), 3), "noise_scale": round(rng.uniform(0.3, 1.0), 3),
                "noise_w": round(rng.uniform(0.4, 1.2), 3)}
    raise ValueError(f"unknown engine {engine!r} for digits; choose from ['espeak', 'piper']")


def plan_digit_corpus(out_dir: PathLike, engines: Mapping[str, TTSEngine], per_digit: int,
                      splits=(0.8, 0.1, 0.1), sample_rate: int = 16000, seed: int = 0,
                      post: Optional[Mapping[str, Any]] = None) -> List[DigitClip]:
    """The clips :func:`build_digit_corpus` writes: ``per_digit`` renditions of each digit, engines taking turns
    (``engines``: name -> engine), voices from ``random.Random(seed)``; duplicates (same engine and voice) redrawn."""
    if per_digit < 1:
        raise ValueError(f"per_digit must be >= 1, got {per_digit}")
    if not engines:
        raise ValueError("no engine given")
    rng = random.Random(seed)
    names = sorted(engines)
    wav_dir = Path(out_dir).resolve() / "wavs"
    clips = []
    for label, word in enumerate(DIGITS):
        seen, renditions = set(), []
        while len(renditions) < per_digit:
            engine = names[len(renditions) % len(names)]
            voice = random_voice(engine, rng)
            key = json.dumps([engine, voice], sort_keys=True)
            if key not in seen:
                seen.add(key)
                renditions.append((engine, voice))
        rng.shuffle(renditions)
        counts = split_counts(per_digit, splits)
        index = 0
        for split, count in zip(SPLITS, counts):
            for engine, voice in renditions[index:index + count]:
                name = wav_name(word, engines[engine], voice, word, sample_rate, post or {})
                clips.append(DigitClip(label, engine, tuple(sorted(voice.items())), split, wav_dir / name))
            index += count
    return clips


def fit_clip(audio, sample_rate: int, clip_s: float = 1.0):
    """Centre ``audio`` (float ``[T]``) in exactly ``round(clip_s * sample_rate)`` samples: zero-padded on both
    sides, or cropped around its centre if longer (with 5 ms fades at the cuts). Returns float32 ``[N]``."""
    import numpy as np

    audio = np.asarray(audio, dtype=np.float32)
    n = int(round(clip_s * sample_rate))
    if len(audio) > n:
        start = (len(audio) - n) // 2
        audio = audio[start:start + n].copy()
        fade = min(int(0.005 * sample_rate), n // 2)
        if fade > 0:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            audio[:fade] *= ramp
            audio[-fade:] *= ramp[::-1]
        return audio
    left = (n - len(audio)) // 2
    return np.pad(audio, (left, n - len(audio) - left)).astype(np.float32)


def build_digit_corpus(
    out_dir: PathLike,
    per_digit: int = 100,
    engines: Sequence[str] = ("espeak", "piper"),
    splits: Sequence[Union[int, float]] = (0.8, 0.1, 0.1),
    sample_rate: int = 16000,
    clip_s: float = 1.0,
    seed: int = 0,
    num_workers: int = 2,
    progress: bool = True,
    engine_objects: Optional[Mapping[str, TTSEngine]] = None,
) -> Dict[str, Any]:
    """Synthesise ``per_digit`` renditions of each of ``DIGITS`` into ``out_dir`` (see the module docstring).

    ``engines`` names the engines that take turns (each checked first: a missing one raises
    :class:`~corpus_builders.engines.EngineNotAvailableError` with its install command); ``engine_objects``
    overrides their construction (tests). Returns the ``corpus.json`` content (counts, seconds, failures).
    """
    with folder_lock(str(out_dir), what="corpus build"):  # one build per folder at a time
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        start = time.perf_counter()
        if engine_objects is None:
            engine_objects = {name: make_engine(name, sample_rate=sample_rate) for name in engines}
        for engine in engine_objects.values():
            engine.check_available()
        out_dir = Path(out_dir).resolve()
        (out_dir / "wavs").mkdir(parents=True, exist_ok=True)
        post = {"top_db": 40.0, "pad_s": 0.02, "peak": 0.95, "clip_s": clip_s}
        clips = plan_digit_corpus(out_dir, engine_objects, per_digit, splits, sample_rate, seed, post)
        pending = [c for c in clips if not is_complete_wav(c.wav_path, sample_rate)]

        def postprocess(audio, sr):
            return fit_clip(trim_and_normalize(audio, sr, top_db=post["top_db"], pad_s=post["pad_s"],
                                               peak=post["peak"]), sr, clip_s)

        def run(batch: List[DigitClip]) -> List[Optional[str]]:
            items = [(c.word, c.wav_path, dict(c.voice)) for c in batch]
            return engine_objects[batch[0].engine].synthesize_batch(items, sample_rate=sample_rate,
                                                                      postprocess=postprocess)

        batches = []
        for name in engine_objects:
            mine = [c for c in pending if c.engine == name]
            size = max(1, engine_objects[name].preferred_batch_size)
            batches += [mine[i:i + size] for i in range(0, len(mine), size)]
        errors: Dict[Path, str] = {}
        with tqdm(total=len(clips), initial=len(clips) - len(pending), unit="clip", desc="digit corpus",
                  disable=not progress, dynamic_ncols=True) as bar, ThreadPoolExecutor(max_workers=num_workers) as pool:
            for batch, batch_errors in zip(batches, pool.map(run, batches)):
                errors.update({c.wav_path: e for c, e in zip(batch, batch_errors) if e is not None})
                bar.update(len(batch))

        entries: Dict[str, List[str]] = {s: [] for s in SPLITS}
        counts = {s: {w: 0 for w in DIGITS} for s in SPLITS}
        failed = []
        for clip in clips:
            if clip.wav_path in errors or not is_complete_wav(clip.wav_path, sample_rate):
                failed.append({"label": clip.word, "engine": clip.engine, "voice": dict(clip.voice),
                               "error": errors.get(clip.wav_path, "no complete wav written")})
                continue
            counts[clip.split][clip.word] += 1
            entries[clip.split].append(json.dumps({
                "audio_filepath": str(clip.wav_path), "duration": clip_s, "label": clip.word, "label_id": clip.label,
                "text": clip.word, "engine": clip.engine, "voice": dict(clip.voice)}))
        for split in SPLITS:
            write_text_atomic(out_dir / f"{split}_manifest.json", "".join(line + "\n" for line in entries[split]))
        info = {
            "kind": "digits", "labels": list(DIGITS), "engines": sorted(engine_objects), "per_digit": per_digit,
            "sample_rate": sample_rate, "clip_s": clip_s, "seed": seed, "splits": list(splits), "post_processing": post,
            "counts": {s: sum(c.values()) for s, c in counts.items()}, "counts_per_label": counts,
            "synthesized": len(pending) - len(errors), "reused": len(clips) - len(pending), "failed": failed,
            "elapsed_s": round(time.perf_counter() - start, 1),
        }
        write_text_atomic(out_dir / "corpus.json", json.dumps(info, indent=2) + "\n")
        return info
