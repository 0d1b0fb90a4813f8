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


def test_together_runs_stages_at_the_same_time_and_raises_a_failure(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    # each waits (up to 20 s) for the other's file: run one after the other, the first would time out and fail
    (scripts / "meet.py").write_text(
        "import os, sys, time\n"
        "mine, other = sys.argv[1:]\n"
        "open(mine, 'w').close()\n"
        "deadline = time.time() + 20\n"
        "while not os.path.exists(other):\n"
        "    if time.time() > deadline: sys.exit('alone')\n"
        "    time.sleep(0.05)\n"
        "print('met', os.environ['OMP_NUM_THREADS'])\n")
    (scripts / "fail.py").write_text("import sys; sys.exit(4)\n")
    runner = StageRunner(str(tmp_path), str(tmp_path / "out"), threads=2)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    results = runner.together(lambda: runner.run("one", "meet.py", a, b, threads=1, echo=False) or "first",
                              lambda: runner.run("two", "meet.py", b, a, threads=1, echo=False) or "second")
    assert results == ["first", "second"]
    assert "met 1" in (tmp_path / "out" / "one.log").read_text() and set(runner.timings) == {"one", "two"}
    with pytest.raises(SystemExit, match="stage 'bad' failed"):
        runner.together(lambda: runner.run("bad", "fail.py", echo=False), lambda: "fine")


def test_background_serves_the_body_and_is_stopped_after_it(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "server.py").write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: (print('stopped', flush=True), sys.exit(0)))\n"
        "time.sleep(0.5)\n"
        "print('serving on 1234', flush=True)\n"
        "while True: time.sleep(0.1)\n")
    (scripts / "dies.py").write_text("print('error: no such repository'); raise SystemExit(2)\n")
    runner = StageRunner(str(tmp_path), str(tmp_path / "out"), threads=1)
    with runner.background("serve", "server.py", ready="serving ") as process:
        assert process.poll() is None  # up, and still up in the body
        assert "serving on 1234" in (tmp_path / "out" / "serve.log").read_text()
    assert process.returncode == 0 and "stopped" in (tmp_path / "out" / "serve.log").read_text()
    with pytest.raises(SystemExit, match=r"stage 'down' did not start \(exit 2\); see .*down.log"):
        with runner.background("down", "dies.py", ready="serving "):
            raise AssertionError("the body of a server that never started must not run")


def test_the_one_hour_demo_and_the_full_demo_ask_distill_for_what_the_readme_says():
    import demo_tts

    one_hour = demo_tts.parse_args([])
    assert one_hour.distill_plan == [16, 16] and one_hour.teacher_minutes == 12.0
    assert not one_hour.sampler_benchmark and not one_hour.deploy_benchmark and one_hour.diversity_seeds == 2
    assert demo_tts.distill_overrides(one_hour) == [
        "plan.teacher_steps=16", "plan.student_steps=16", "model.round_steps=400", "consistency.enabled=true",
        "consistency.round_steps=800"]  # no ladder, no DMD: the consistency student alone, from 16-step shards
    full = demo_tts.parse_args(["--full"])
    assert full.distill_plan == [256, 1] and full.sampler_benchmark and full.deploy_benchmark
    assert "dmd.enabled=true" in demo_tts.distill_overrides(full)
    assert "plan.student_steps=1" in demo_tts.distill_overrides(full)
    # a setting given with --full is kept, and nothing to distil is no distillation
    assert demo_tts.parse_args(["--full", "--dmd-generator-steps", "0"]).dmd_generator_steps == 0
    assert demo_tts.distill_overrides(demo_tts.parse_args(["--consistency-steps", "0"])) == []
    assert demo_tts.distill_overrides(demo_tts.parse_args(["--full", "--distill-round-steps", "0"])) == []
    with pytest.raises(SystemExit):
        demo_tts.parse_args(["--distill-plan", "4", "16"])
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Makefile")) as f:
        makefile = f.read()
    assert "\ndemo-full:" in makefile and "scripts/demo_tts.py --full" in makefile


def test_seed_last_checkpoints_copies_only_the_last_ones_once(tmp_path):
    from demo_stages import seed_last_checkpoints

    (tmp_path / "src" / "checkpoints").mkdir(parents=True)
    (tmp_path / "src" / "checkpoints" / "M--epoch=3-last.ckpt").write_text("last")
    (tmp_path / "src" / "checkpoints" / "M--epoch=1.ckpt").write_text("old")
    seed_last_checkpoints(str(tmp_path / "src"), str(tmp_path / "dst"))
    assert [p.name for p in (tmp_path / "dst" / "checkpoints").iterdir()] == ["M--epoch=3-last.ckpt"]
    (tmp_path / "src" / "checkpoints" / "M--epoch=3-last.ckpt").write_text("newer")
    seed_last_checkpoints(str(tmp_path / "src"), str(tmp_path / "dst"))  # a resumed folder is not overwritten
    assert (tmp_path / "dst" / "checkpoints" / "M--epoch=3-last.ckpt").read_text() == "last"
    assert not (tmp_path / "dst" / "checkpoints.tmp").exists()
