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

"""Synthetic speech corpus builder: sentences, engines, manifests, idempotent reruns (corpus_builders.corpus).

espeak-ng is required (``apt-get install espeak-ng``; the Makefile installs it): without it these tests fail with
that hint instead of skipping. Piper (``pip install -e .[corpus]``, which ``make test`` does) is required the same way.
"""

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from corpus_builders.corpus import SPLITS, build_corpus, read_manifest, split_counts, trim_and_normalize
from corpus_builders.engines import (
    ESPEAK_INSTALL,
    PIPER_INSTALL,
    EngineNotAvailableError,
    EspeakEngine,
    PiperEngine,
    is_complete_wav,
    parse_espeak_voice,
)
from corpus_builders.sentences import MAX_WORDS, MIN_WORDS, generate_sentences, read_sentences, vocabulary

REPO = Path(__file__).resolve().parents[1]
FIELDS = {"audio_filepath", "text", "normalized_text", "duration", "speaker"}
VOICES = [{"voice": "en-us", "speed": 190}, {"voice": "en-gb+f2", "speed": 200, "pitch": 60}]


def _espeak() -> EspeakEngine:
    engine = EspeakEngine()
    engine.check_available()  # fails (does not skip) with the apt-get hint where espeak-ng is missing
    return engine


def _rms(path) -> float:
    audio, _ = sf.read(str(path), dtype="float32")
    return float(np.sqrt(np.mean(audio**2)))


def _manifests(out_dir):
    return {split: read_manifest(Path(out_dir) / f"{split}_manifest.json") for split in SPLITS}


# -------------------------------------------------------------------------------------------------------- sentences


def test_generated_sentences_are_deterministic_unique_and_varied():
    sentences = generate_sentences(400, seed=7)
    assert sentences == generate_sentences(400, seed=7)
    assert generate_sentences(50, seed=7) == sentences[:50]  # prefix-stable
    assert generate_sentences(50, seed=8) != sentences[:50]
    assert len(set(sentences)) == len(sentences)
    assert all(MIN_WORDS <= len(s.split()) <= MAX_WORDS for s in sentences)
    assert {len(s.split()) for s in sentences} >= {5, 14}
    assert len(vocabulary(sentences)) >= 400
    assert all(s[0].isupper() and s[-1] in ".?!" for s in sentences)


def test_read_sentences_and_its_errors(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Hello   there, world.\n\n  \nSecond line here.\n", encoding="utf-8")
    assert read_sentences(good) == ["Hello there, world.", "Second line here."]

    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="no sentences"):
        read_sentences(empty)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no sentences"):
        read_sentences(blank)
    no_letters = tmp_path / "digits.txt"
    no_letters.write_text("A real sentence.\n\n12345 ... !!\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"digits.txt:3: line has no letters"):
        read_sentences(no_letters)


def test_split_counts_and_voice_specs():
    assert split_counts(400) == (360, 20, 20)
    assert split_counts(6) == (4, 1, 1)
    assert split_counts(2) == (2, 0, 0)
    assert split_counts(10, (1.0, 0.0, 0.0)) == (10, 0, 0)
    assert split_counts(10, (5, 2, 1)) == (5, 2, 1)
    with pytest.raises(ValueError, match="need 12 texts"):
        split_counts(10, (8, 2, 2))
    assert parse_espeak_voice("en-us+m3:150:40") == {"voice": "en-us+m3", "speed": 150, "pitch": 40}
    assert parse_espeak_voice("en-gb") == {"voice": "en-gb"}


def test_trim_and_normalize_keeps_margins_and_peak():
    sr = 22050
    t = np.arange(sr) / sr
    audio = np.concatenate([np.zeros(sr), 0.3 * np.sin(2 * np.pi * 220 * t), np.zeros(sr)]).astype(np.float32)
    out = trim_and_normalize(audio, sr, pad_s=0.05)
    assert abs(len(out) / sr - 1.1) < 0.002  # 1 s tone + 2 x 50 ms margins
    assert abs(float(np.abs(out).max()) - 0.95) < 1e-6
    with pytest.raises(ValueError, match="silent"):
        trim_and_normalize(np.zeros(sr, np.float32), sr)


# ---------------------------------------------------------------------------------------------------------- engines


def test_missing_engines_raise_with_install_command(tmp_path):
    with pytest.raises(EngineNotAvailableError, match=f"not found.*{ESPEAK_INSTALL}"):
        EspeakEngine(executable=str(tmp_path / "no-such-espeak-ng")).check_available()
    with pytest.raises(EngineNotAvailableError, match=ESPEAK_INSTALL):  # build_corpus checks before writing
        build_corpus(tmp_path / "c", EspeakEngine(executable="/nonexistent/espeak-ng"), ["One two three four five."])
    assert not (tmp_path / "c" / "train_manifest.json").exists()
    with pytest.raises(EngineNotAvailableError, match=f"interpreter .* not found.*{PIPER_INSTALL}"):
        PiperEngine(python=str(tmp_path / "no-such-python"), model=tmp_path / "v.onnx").check_available()
    with pytest.raises(EngineNotAvailableError, match=PIPER_INSTALL):
        PiperEngine(model=tmp_path / "missing-voice.onnx").check_available()


def test_espeak_engine_writes_target_rate_and_reports_failures(tmp_path):
    engine = _espeak()
    items = [("Resampled to sixteen kilohertz.", tmp_path / "a.wav", {"voice": "en-us"}),
             ("This voice does not exist.", tmp_path / "b.wav", {"voice": "xx-no-such-voice"}),
             ("   ", tmp_path / "c.wav", None)]
    errors = engine.synthesize_batch(items, sample_rate=16000)
    assert errors[0] is None and is_complete_wav(tmp_path / "a.wav", 16000)
    assert "espeak-ng failed" in errors[1] and not (tmp_path / "b.wav").exists()
    assert errors[2] == "empty text"
    engine.check_voice("en-us+m3")
    with pytest.raises(ValueError, match="does not exist"):
        engine.check_voice("xx-no-such-voice")


# ----------------------------------------------------------------------------------------------------------- corpus


@pytest.fixture(scope="module")
def espeak_corpus(tmp_path_factory):
    engine = _espeak()
    out = tmp_path_factory.mktemp("espeak_corpus")
    texts = generate_sentences(6, seed=1)
    summary = build_corpus(out, engine, texts, voices=VOICES, seed=3, num_workers=2, batch_size=2, progress=False)
    return out, texts, summary


def test_espeak_corpus_manifests(espeak_corpus):
    out, texts, summary = espeak_corpus
    assert summary.counts == {"train": 4, "val": 1, "test": 1} and not summary.failed
    assert summary.synthesized == 6 and summary.reused == 0
    manifests = _manifests(out)
    texts_by_split = {split: {e["text"] for e in entries} for split, entries in manifests.items()}
    assert set().union(*texts_by_split.values()) == set(texts)
    assert sum(len(t) for t in texts_by_split.values()) == 6  # disjoint by text
    for entries in manifests.values():
        for entry in entries:
            assert set(entry) == FIELDS
            path = Path(entry["audio_filepath"])
            assert path.is_absolute() and path.parent == out / "wavs"
            assert entry["normalized_text"] == entry["text"]
            assert isinstance(entry["speaker"], int) and entry["speaker"] in (0, 1)
            info = sf.info(str(path))
            assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
            assert abs(entry["duration"] - info.frames / info.samplerate) < 1e-5
            assert 0.5 < entry["duration"] < 10.0
            assert _rms(path) > 0.02  # speech, not silence
    assert {e["speaker"] for entries in manifests.values() for e in entries} == {0, 1}
    # every line of a manifest is one JSON object
    for split in SPLITS:
        for line in (out / f"{split}_manifest.json").read_text(encoding="utf-8").splitlines():
            assert isinstance(json.loads(line), dict)
    info = json.loads((out / "corpus.json").read_text(encoding="utf-8"))
    assert info["counts"] == summary.counts and len(info["speakers"]) == 2


def test_rerun_reuses_finished_wavs_and_redoes_broken_ones(tmp_path):
    engine = _espeak()
    texts = generate_sentences(6, seed=2)
    kwargs = dict(voices=VOICES, seed=5, num_workers=2, progress=False)
    build_corpus(tmp_path, engine, texts, **kwargs)
    before = _manifests(tmp_path)
    wavs = sorted((tmp_path / "wavs").glob("*.wav"))
    assert len(wavs) == 6
    mtimes = {p: p.stat().st_mtime_ns for p in wavs}

    again = build_corpus(tmp_path, engine, texts, **kwargs)
    assert (again.synthesized, again.reused) == (0, 6)
    assert {p: p.stat().st_mtime_ns for p in wavs} == mtimes
    assert _manifests(tmp_path) == before

    deleted, truncated, corrupt = wavs[:3]
    deleted.unlink()
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    corrupt.write_bytes(b"RIFF\x00\x00garbage" * 10)
    assert not is_complete_wav(truncated) and not is_complete_wav(corrupt)
    third = build_corpus(tmp_path, engine, texts, **kwargs)
    assert (third.synthesized, third.reused) == (3, 3)
    assert all(is_complete_wav(p, 22050) for p in wavs)
    assert {p: p.stat().st_mtime_ns for p in wavs[3:]} == {p: mtimes[p] for p in wavs[3:]}
    assert _manifests(tmp_path) == before
    assert not list((tmp_path / "wavs").glob(".*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_failed_utterances_are_skipped_and_reported(tmp_path):
    engine = _espeak()
    texts = generate_sentences(4, seed=4)
    voices = [{"voice": "en-us"}, {"voice": "xx-no-such-voice"}]
    summary = build_corpus(tmp_path, engine, texts, voices=voices, splits=(4, 0, 0), progress=False)
    assert summary.counts["train"] == 2 and len(summary.failed) == 2
    assert all("espeak-ng failed" in error for _, error in summary.failed)
    assert {e["speaker"] for e in read_manifest(tmp_path / "train_manifest.json")} == {0}
    assert len(json.loads((tmp_path / "corpus.json").read_text(encoding="utf-8"))["failed"]) == 2


def test_cli_builds_espeak_corpus_and_prints_summary(tmp_path):
    _espeak()
    text_file = tmp_path / "mine.txt"
    text_file.write_text("The first line is here.\n\nA second sentence follows.\nAnd here is the third.\n")
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_corpus.py"), "--engine", "espeak", "--out-dir", str(out),
         "--text-file", str(text_file), "--voices", "en-us", "en-us+m3:160:40", "--sample-rate", "16000",
         "--no-progress"],
        capture_output=True, text=True, check=True)
    assert "total     3 utterances" in proc.stdout and "took" in proc.stdout
    entries = [e for entries in _manifests(out).values() for e in entries]
    assert len(entries) == 3 and all(sf.info(e["audio_filepath"]).samplerate == 16000 for e in entries)


# ------------------------------------------------------------------------------------------------------------ piper


def test_piper_corpus_two_utterances(tmp_path):
    engine = PiperEngine()
    engine.check_available()
    # "..." has no phonemes: Piper exits on it; the lines after it are redone in a new process, it is reported
    texts = ["The quick brown fox jumps over the lazy dog.", "...", "Piper speaks this second sentence clearly."]
    summary = build_corpus(tmp_path, engine, texts, splits=(3, 0, 0), num_workers=1, progress=False)
    assert summary.counts == {"train": 2, "val": 0, "test": 0}
    assert [text for text, _ in summary.failed] == ["..."] and "piper failed" in summary.failed[0][1]
    entries = read_manifest(tmp_path / "train_manifest.json")
    assert {e["text"] for e in entries} == {texts[0], texts[2]}
    for entry in entries:
        assert set(entry) == FIELDS and entry["speaker"] == 0
        with wave.open(entry["audio_filepath"]) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2)
            assert abs(w.getnframes() / 22050 - entry["duration"]) < 1e-5
        assert 1.0 < entry["duration"] < 8.0 and _rms(entry["audio_filepath"]) > 0.02
