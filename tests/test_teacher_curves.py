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

"""scripts/teacher_curves.py: its refusals, where the trainings and snapshots go, the table of its judging."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import teacher_curves  # noqa: E402  (a script of scripts/)


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "test_manifest.json").write_text("{}\n")
    (tmp_path / "FastPitch.nemo").write_text("")
    return ["--corpus", str(tmp_path / "corpus"), "--frontend", str(tmp_path / "FastPitch.nemo"),
            "--frontend-minutes", "10"]


@pytest.mark.parametrize("bad, message", [
    (["--variant", "fastpitch=x", "--minutes", "5"], "NAME not 'fastpitch'"),
    (["--variant", "noequals", "--minutes", "5"], "give NAME=OVERRIDES"),
    (["--minutes", "5"], "at least one --variant"),
    (["--variant", "a=", "--minutes", "10", "5"], "positive and ascending"),
    (["--variant", "a=", "--minutes", "5", "--t-start", "0"], "--t-start must be in (0, 1]"),
    (["--variant", "a=", "--minutes", "5", "--sampler", "euler"], "invalid choice: 'euler'"),
])
def test_bad_arguments_are_one_line_before_any_work(corpus, bad, message, capsys):
    with pytest.raises(SystemExit):
        teacher_curves.parse_args(corpus + bad)
    assert message in capsys.readouterr().err


def test_each_variant_trains_to_every_snapshot_time_and_the_snapshots_live_outside_the_training(corpus, tmp_path):
    args = teacher_curves.parse_args(corpus + ["--variant", "wide=a=1,b=2", "--minutes", "5", "10",
                                               "--out-dir", str(tmp_path / "out")])
    assert args.variants == {"wide": ["a=1", "b=2"]}
    curves = teacher_curves.Curves(args)
    calls = []

    def trained(folder, name, script, minutes, arguments, force, threads, echo):
        calls.append((folder, minutes, [a for a in arguments if a.startswith(("a=", "b=", "+init"))]))
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{name}.nemo")
        with open(path, "w") as f:
            f.write(f"{minutes}")
        return path

    curves.runner.trained = trained
    curves.train("wide")
    out = str(tmp_path / "out")
    assert [(c[0], c[1]) for c in calls] == [(os.path.join(out, "training", "wide"), 5.0),
                                             (os.path.join(out, "training", "wide"), 10.0)]
    assert calls[0][2][1:] == ["a=1", "b=2"] and calls[0][2][0].startswith("+init_from_nemo_model=")
    # NeMo's exp_manager moves a resumed folder's files into run_<n>/: the snapshots are not in it
    assert open(teacher_curves.snapshot_path(out, "wide", 5)).read() == "5.0"
    assert open(teacher_curves.snapshot_path(out, "wide", 10)).read() == "10.0"
    calls.clear()
    curves.train("wide")  # a rerun skips what exists
    assert calls == []


def test_the_curves_table_reads_the_benchmark_results():
    from curves_judging import _row, format_curves

    result = {"kind": "diffusion", "wer": {"hifigan": 0.25}, "mel_fd": 4.5,
              "dnsmos": {"hifigan": {"sig": 3.0, "bak": 3.5, "ovrl": 2.5, "p808": 3.25}}}
    recording = {"kind": "recording", "wer": {"recording": 0.1},
                 "dnsmos": {"recording": {"sig": 3.5, "bak": 4.0, "ovrl": 3.2, "p808": 3.9}}}
    table = format_curves([_row("recording", None, recording, "hifigan"), _row("wide", 5.0, result, "hifigan")],
                          "caption")
    assert "| recording | - | 0.100 | 3.50 | 4.00 | 3.20 | 3.90 | - |" in table
    assert "| wide | 5 | 0.250 | 3.00 | 3.50 | 2.50 | 3.25 | 4.50 |" in table
