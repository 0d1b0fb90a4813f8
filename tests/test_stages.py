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

"""The demos' stage runner: output logged, time recorded, a failing stage stops with the log's name."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from demo_stages import StageRunner, max_time  # noqa: E402  (a helper of the demo scripts, in scripts/)


def test_stage_runner_logs_times_and_stops_on_failure(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "ok.py").write_text("import os, sys; print('threads', os.environ['OMP_NUM_THREADS'], sys.argv[1:])\n")
    (scripts / "fail.py").write_text("import sys; print('bad input'); sys.exit(3)\n")
    runner = StageRunner(str(tmp_path), str(tmp_path / "out"), threads=2)
    runner.run("first", "ok.py", "a", "b c")
    assert "threads 2 ['a', 'b c']" in (tmp_path / "out" / "first.log").read_text()
    assert set(runner.timings) == {"first"} and runner.timings["first"] > 0
    with pytest.raises(SystemExit, match=r"stage 'second' failed \(exit 3\); see .*second.log"):
        runner.run("second", "fail.py")
    assert "bad input" in (tmp_path / "out" / "second.log").read_text()
    assert max_time(12.5) == "00:00:12:30" and max_time(90) == "00:01:30:00"


def test_trained_keeps_an_existing_model_and_passes_the_resume_overrides(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "train.py").write_text(
        "import sys, pathlib\n"
        "folder = [a.split('=', 1)[1] for a in sys.argv if a.startswith('+exp_manager.explicit_log_dir=')][0]\n"
        "pathlib.Path(folder).mkdir(parents=True, exist_ok=True)\n"
        "(pathlib.Path(folder) / 'M.nemo').write_text(' '.join(sys.argv[1:]))\n")
    runner = StageRunner(str(tmp_path), str(tmp_path / "out"), threads=1)
    folder = str(tmp_path / "out" / "model")
    nemo = runner.trained(folder, "M", "train.py", 1.5, ["--config-name", "c", "x=1"])
    args = open(nemo).read().split()
    assert args[:3] == ["--config-name", "c", "x=1"] and "+trainer.max_time=00:00:01:30" in args
    assert "exp_manager.resume_if_exists=true" in args
    open(nemo, "w").write("kept")
    assert runner.trained(folder, "M", "train.py", 1.5, []) == nemo and open(nemo).read() == "kept"
    runner.trained(folder, "M", "train.py", 1.5, ["y=2"], force=True)
    assert "y=2" in open(nemo).read()
