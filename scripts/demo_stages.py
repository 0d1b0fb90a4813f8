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

"""Running a demo's stages: each one of the project's scripts as its own process, echoed and logged, timed.

Used by ``scripts/demo_tts.py`` and ``scripts/demo_guided.py`` (a helper of the demos, not of the library). No NeMo
import (the stages import it themselves).
"""

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Iterator, Optional, Sequence

__all__ = ["StageRunner", "max_time", "seed_last_checkpoints"]


def max_time(minutes: float) -> str:
    """Lightning's ``trainer.max_time`` string ``DD:HH:MM:SS`` for ``minutes``."""
    seconds = int(round(minutes * 60))
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def seed_last_checkpoints(source: str, folder: str) -> None:
    """Gives ``folder`` the ``-last.ckpt`` files of the training folder ``source`` (a training that resumes them goes
    on from there), staged and renamed: a crash leaves either no ``checkpoints/`` or a complete one; once there, it
    is kept."""
    checkpoints = os.path.join(folder, "checkpoints")
    if os.path.isdir(checkpoints):
        return
    shutil.rmtree(checkpoints + ".tmp", ignore_errors=True)
    os.makedirs(checkpoints + ".tmp")
    for name in os.listdir(os.path.join(source, "checkpoints")):
        if name.endswith("-last.ckpt"):
            shutil.copy2(os.path.join(source, "checkpoints", name), checkpoints + ".tmp")
    os.replace(checkpoints + ".tmp", checkpoints)


class StageRunner:
    """``run(stage, script, *arguments)`` runs ``scripts/<script>`` of ``repo`` with ``threads`` intra-op threads,
    streams its output (progress bars included) to the console and to ``<out>/<stage>.log``, adds its wall time to
    ``timings[stage]`` and exits with a message naming the log if it fails."""

    def __init__(self, repo: str, out: str, threads: int):
        self.repo, self.out, self.threads = repo, out, int(threads)
        self.timings: Dict[str, float] = {}
        os.makedirs(out, exist_ok=True)

    def _command(self, script: str, arguments: Sequence[str], threads: Optional[int]):
        command = [sys.executable, os.path.join(self.repo, "scripts", script), *arguments]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads or self.threads), PYTHONPATH=self.repo)
        return command, env

    def run(self, stage: str, script: str, *arguments: str, threads: Optional[int] = None, echo: bool = True) -> None:
        """``threads`` overrides the runner's; ``echo=False`` writes the output to the log only (stages run
        together would interleave their progress bars)."""
        command, env = self._command(script, arguments, threads)
        log_path = os.path.join(self.out, f"{stage}.log")
        print(f"\n=== {stage}: {' '.join(shlex.quote(c) for c in command)}"
              + ("" if echo else f"\n    (output in {log_path})"), flush=True)
        start = time.perf_counter()
        with open(log_path, "a") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                       cwd=self.repo)
            # raw chunks, not lines: progress bars redraw with "\r" and would otherwise show only at the next "\n"
            for chunk in iter(lambda: os.read(process.stdout.fileno(), 4096), b""):
                if echo:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                log.write(chunk.decode(errors="replace"))
            if process.wait() != 0:
                raise SystemExit(f"stage '{stage}' failed (exit {process.returncode}); see {log.name}. "
                                 "Rerun the same command to resume.")
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    def together(self, *stages: Callable[[], object]) -> list:
        """Runs the callables (each one or more stages, with ``echo=False``) at the same time and returns their
        results in order; the first failure is raised once all have ended. On two cores two one-thread trainings
        side by side keep 80% (the demo's decoder) and 66% (its FastPitch) of the steps per minute each gets alone
        on two threads (measured on the demo's corpus): more than the 50% each gets one after the other."""
        with ThreadPoolExecutor(max_workers=len(stages)) as pool:
            futures = [pool.submit(stage) for stage in stages]
            errors = [future.exception() for future in futures]
        for error in errors:
            if error is not None:
                raise error
        return [future.result() for future in futures]

    @contextlib.contextmanager
    def background(self, stage: str, script: str, *arguments: str, ready: str,
                   timeout: float = 600.0) -> Iterator[subprocess.Popen]:
        """Runs ``script`` as a server for the body of the ``with``: returns once a line of its output contains
        ``ready`` (SystemExit naming the log if it exits first or takes longer than ``timeout`` s), and stops it
        with SIGINT (then SIGKILL after 60 s) at the end. Its output goes to ``<out>/<stage>.log``."""
        command, env = self._command(script, arguments, None)
        log_path = os.path.join(self.out, f"{stage}.log")
        print(f"\n=== {stage}: {' '.join(shlex.quote(c) for c in command)} &\n    (output in {log_path})",
              flush=True)
        start = time.perf_counter()
        is_ready = threading.Event()
        with open(log_path, "a") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                       cwd=self.repo, text=True, errors="replace")

            def copy_output():
                for line in process.stdout:
                    log.write(line)
                    log.flush()
                    if ready in line:
                        is_ready.set()

            reader = threading.Thread(target=copy_output, daemon=True)
            reader.start()
            try:
                while not is_ready.wait(0.5):
                    if process.poll() is not None or time.perf_counter() - start > timeout:
                        raise SystemExit(f"stage '{stage}' did not start (exit {process.poll()}); see {log_path}")
                print(f"    {stage} is up ({time.perf_counter() - start:.0f} s)", flush=True)
                yield process
            finally:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
                    try:
                        process.wait(60)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
                reader.join(10)
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    def trained(self, folder: str, name: str, script: str, minutes: float, arguments: Sequence[str],
                force: bool = False, threads: Optional[int] = None, echo: bool = True) -> str:
        """``<folder>/<name>.nemo`` made by the training script ``script`` with ``arguments`` (Hydra overrides,
        ``--config-name`` first if any), logging to ``folder``, resuming its last checkpoint there and stopping after
        ``minutes``; a ``.nemo`` already there is kept (``force`` retrains). The stage is named after ``folder``."""
        nemo = os.path.join(folder, f"{name}.nemo")
        if os.path.exists(nemo) and not force:
            print(f"\n=== {os.path.basename(folder)}: {nemo} exists, not retrained (--force retrains)")
            return nemo
        self.run(os.path.basename(folder), script, *arguments, f"+exp_manager.explicit_log_dir={folder}",
                 "exp_manager.resume_if_exists=true", "exp_manager.resume_ignore_no_checkpoint=true",
                 f"+trainer.max_time={max_time(minutes)}", threads=threads, echo=echo)
        return nemo

    def minutes(self) -> Dict[str, str]:
        """Wall minutes per stage, formatted."""
        return {k: f"{v / 60:.1f}" for k, v in self.timings.items()}
