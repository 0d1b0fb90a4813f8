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

"""Spoken-digit corpus (corpus_builders.digits, ``build_corpus.py digits``): labels, 1-s clips, splits, reruns.

Needs espeak-ng and Piper like tests/test_corpus.py (installed by ``make test``): missing, they fail with the hint.
"""

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from corpus_builders.corpus import SPLITS, read_manifest
from corpus_builders.digits import DIGITS, build_digit_corpus, fit_clip, plan_digit_corpus, random_voice
from corpus_builders.engines import EspeakEngine, PiperEngine

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    info = build_digit_corpus(out, per_digit=3, engines=("espeak",), splits=(1, 1, 1), seed=0, progress=False)
    return out, info


def _samples(path) -> tuple:
    with wave.open(str(path), "rb") as w:
        return w.getnframes(), w.getframerate(), w.getnchannels()


def test_every_split_holds_every_digit_as_exact_one_second_clips(digits):
    out, info = digits
    assert info["failed"] == [] and info["counts"] == {"train": 10, "val": 10, "test": 10}
    seen = set()
    for split in SPLITS:
        rows = read_manifest(out / f"{split}_manifest.json")
        assert sorted(row["label"] for row in rows) == sorted(DIGITS)  # one of each digit per split
        for row in rows:
            assert DIGITS[row["label_id"]] == row["label"] == row["text"] and row["duration"] == 1.0
            assert _samples(row["audio_filepath"]) == (16000, 16000, 1)
            seen.add(row["audio_filepath"])
    assert len(seen) == 30  # distinct renditions, disjoint splits


def test_clips_hold_speech_not_silence(digits):
    import soundfile as sf

    out, _ = digits
    for row in read_manifest(out / "test_manifest.json"):
        audio, _ = sf.read(row["audio_filepath"])
        assert 0.9 < np.abs(audio).max() <= 0.96  # peak-normalised
        middle = np.abs(audio[6000:10000]).mean()  # the word is centred in the clip
        assert middle > 5 * np.abs(audio[:400]).mean() + 1e-4


def test_rerun_reuses_clips_and_redoes_a_corrupt_one(digits):
    out, _ = digits
    victim = Path(read_manifest(out / "val_manifest.json")[0]["audio_filepath"])
    victim.write_bytes(victim.read_bytes()[:100])  # truncated, as by a crash
    info = build_digit_corpus(out, per_digit=3, engines=("espeak",), splits=(1, 1, 1), seed=0, progress=False)
    assert info["synthesized"] == 1 and info["reused"] == 29
    assert _samples(victim) == (16000, 16000, 1)


def test_voices_are_seeded_and_varied():
    import random

    first = [random_voice("espeak", random.Random(1)) for _ in range(3)]
    assert first == [random_voice("espeak", random.Random(1)) for _ in range(3)]
    voices = [random_voice("espeak", random.Random(i)) for i in range(40)]
    assert len({v["voice"] for v in voices}) > 15 and len({v["speed"] for v in voices}) > 15
    piper = random_voice("piper", random.Random(0))
    assert set(piper) == {"length_scale", "noise_scale", "noise_w"}
    with pytest.raises(ValueError, match="unknown engine 'festival'"):
        random_voice("festival", random.Random(0))


def test_plan_is_balanced_across_engines(tmp_path):
    engines = {"espeak": EspeakEngine(), "piper": PiperEngine()}
    clips = plan_digit_corpus(tmp_path, engines, per_digit=10, splits=(0.8, 0.1, 0.1), sample_rate=16000)
    assert len(clips) == 100
    for label in range(10):
        mine = [c for c in clips if c.label == label]
        assert [sum(c.split == s for c in mine) for s in SPLITS] == [8, 1, 1]
        assert sum(c.engine == "piper" for c in mine) == 5
    with pytest.raises(ValueError, match="per_digit must be >= 1"):
        plan_digit_corpus(tmp_path, engines, per_digit=0)


def test_fit_clip_pads_and_crops_to_the_exact_length():
    short = np.ones(100, dtype=np.float32)
    padded = fit_clip(short, 1000, 0.5)
    assert padded.shape == (500,) and padded[200:300].sum() == 100 and padded[:200].sum() == 0
    long = np.arange(2000, dtype=np.float32)
    cropped = fit_clip(long, 1000, 1.0)
    assert cropped.shape == (1000,) and cropped[500] == 1000  # centred crop
    assert cropped[0] == 0 and cropped[-1] == 0  # faded cuts


def test_cli_digits_with_piper(tmp_path):
    out = tmp_path / "digits"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_corpus.py"), "digits", "--out-dir", str(out),
                           "--per-digit", "2", "--splits", "1", "1", "0", "--no-progress"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "synthesised 20, reused 0, failed 0" in proc.stdout
    rows = read_manifest(out / "train_manifest.json") + read_manifest(out / "val_manifest.json")
    assert sorted(r["engine"] for r in rows) == ["espeak"] * 10 + ["piper"] * 10
    info = json.loads((out / "corpus.json").read_text())
    assert info["kind"] == "digits" and info["labels"] == list(DIGITS)
    bad = subprocess.run([sys.executable, str(REPO / "scripts" / "build_corpus.py"), "digits", "--out-dir",
                          str(out), "--per-digit", "0"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "per_digit must be >= 1" in bad.stderr
