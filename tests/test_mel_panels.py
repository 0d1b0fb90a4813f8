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

"""scripts/mel_panels.py on the tiny teacher and tone corpus."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import mel_panels  # noqa: E402  (a script of scripts/)


def test_mel_panels_draws_the_recording_and_each_model_on_the_recordings_durations(teacher_nemo, corpus, tmp_path):
    """One panel per system in order, each as long as the recording's mel (the aligner's durations, so a frame is
    the same moment in every panel), and the image written; a --model without NAME= is refused."""
    root, manifest = corpus
    args = ["--manifest", manifest, "--sup-data-path", f"{root}/sup", "--index", "1", "--model", f"a={teacher_nemo}",
            "--model", f"b={teacher_nemo}", "--coarse", "--frames", "0", "--out", str(tmp_path / "mels.png")]
    panels, frames, text = mel_panels.collect(mel_panels.parse_args(args))
    with open(manifest) as f:
        assert text == json.loads([line for line in f if line.strip()][1])["text"]
    assert [title.split(" ")[0] for title, _ in panels] == ["recording", "a:", "a", "b"]
    assert {mel.shape[-1] for _, mel in panels} == {frames} and frames > 10
    mel_panels.main(args)
    assert (tmp_path / "mels.png").stat().st_size > 1000
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".manifest.json")]  # its temporary one gone
    with pytest.raises(SystemExit):
        mel_panels.parse_args(["--manifest", manifest, "--sup-data-path", root, "--model", teacher_nemo, "--out", "x"])
