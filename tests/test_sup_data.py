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

"""Pitch/alignment caches are filled once, statistics written, and corrupt cache files are recomputed."""

import json
import os

import pytest

from tts_fixtures import write_tone_corpus

KWARGS = dict(sample_rate=22050, n_fft=1024, win_length=1024, hop_length=256, window="hann", n_mels=80,
              lowfreq=0, highfreq=8000, pitch_fmin=65.4, pitch_fmax=2093.0)


def test_precompute_and_recover_from_corrupt_cache(tmp_path):
    from nemo_distill.data.sup_data import precompute_supplementary_data

    manifest = write_tone_corpus(str(tmp_path))
    sup = str(tmp_path / "sup")
    stats = precompute_supplementary_data(manifest, sup, KWARGS, num_workers=0)
    assert stats["num_utterances"] == 6
    assert 90 < stats["pitch_mean"] < 250 and stats["pitch_std"] > 5  # the tones' f0 lies in 110-210 Hz
    with open(os.path.join(sup, "pitch_stats.json")) as f:
        assert json.load(f) == stats
    pitch_dir = os.path.join(sup, "pitch")
    cached = sorted(os.listdir(pitch_dir))
    assert len(cached) == 6
    with open(os.path.join(pitch_dir, cached[0]), "wb") as f:
        f.write(b"half-written")
    again = precompute_supplementary_data(manifest, sup, KWARGS, num_workers=0)
    assert again == stats
    assert sorted(os.listdir(pitch_dir)) == cached


def test_missing_manifest(tmp_path):
    from nemo_distill.data.sup_data import precompute_supplementary_data

    with pytest.raises(FileNotFoundError, match="does not exist"):
        precompute_supplementary_data(str(tmp_path / "none.json"), str(tmp_path / "sup"), KWARGS)
