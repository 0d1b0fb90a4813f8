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

import os
import shlex
import subprocess
import sys
import time
from typing import Dict, Sequence

__all__ = ["StageRunner", "max_time"]


def max_time(minutes: float) -> str:
    """Lightning's ``trainer.max_time`` string ``DD:HH:MM:SS`` for ``minutes``."""
    seconds = int(round(minutes * 60))
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class StageRunner:
    """``run(stage, script, *arguments)`` runs ``scripts/<script>`` of ``repo`` with ``threads`` intra-op threads,
    streams its output (progress bars included) to the console and to ``<out>/<stage>.log``, adds its wall time to
    ``timings[stage]`` and exits with a message naming the log if it fails."""

    def __init__(self, repo: str, out: str, threads: int):
        self.repo, self.out, self.threads = repo, out, int(threads)
        self.timings: Dict[str, float] = {}
        os.makedirs(out, exist_ok=True)

    def run(self, stage: str, script: str, *arguments: str) -> None:
        command = [sys.executable, os.path.join(self.repo, "scripts", script), *arguments]
        print(f"\n=== {stage}: {' '.join(shlex.quote(c) for c in command)}", flush=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(self.threads), PYTHONPATH=self.repo)
        start = time.perf_counter()
        with open(os.path.join(self.out, f"{stage}.log"), "a") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                       cwd=self.repo)
            # raw chunks, not lines: progress bars redraw with "\r" and would otherwise show only at the next "\n"
            for chunk in iter(lambda: os.read(process.stdout.fileno(), 4096), b""):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                log.write(chunk.decode(errors="replace"))
            if process.wait() != 0:
                raise SystemExit(f"stage '{stage}' failed (exit {process.returncode}); see {log.name}. "
                                 "Rerun the same command to resume.")
        self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start

    def trained(self, folder: str, name: str, script: str, minutes: float, arguments: Sequence[str],
                force: bool = False) -> str:
        """``<folder>/<name>.nemo`` made by the training script ``script`` with ``arguments`` (Hydra overrides,
        ``--config-name`` first if any), logging to ``folder``, resuming its last checkpoint there and stopping after
        ``minutes``; a ``.nemo`` already there is kept (``force`` retrains). The stage is named after ``folder``."""
        nemo = os.path.join(folder, f"{name}.nemo")
        if os.path.exists(nemo) and not force:
            print(f"\n=== {os.path.basename(folder)}: {nemo} exists, not retrained (--force retrains)")
            return nemo
        self.run(os.path.basename(folder), script, *arguments, f"+exp_manager.explicit_log_dir={folder}",
                 "exp_manager.resume_if_exists=true", "exp_manager.resume_ignore_no_checkpoint=true",
                 f"+trainer.max_time={max_time(minutes)}")
        return nemo

    def minutes(self) -> Dict[str, str]:
        """Wall minutes per stage, formatted."""
        return {k: f"{v / 60:.1f}" for k, v in self.timings.items()}
