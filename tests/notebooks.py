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

"""Running a tutorial notebook as the suite does (tests/test_tutorials.py, tests/test_tutorial_digits.py): top to
bottom, QUICK mode, in a kernel of this environment, writing under a folder of the test's."""

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

CELL_TIMEOUT = 900  # seconds: a hung cell fails instead of stalling CI


@contextlib.contextmanager
def kernel_on_unix_sockets():
    """A traitlets ``Config`` for ``NotebookClient(config=...)``: the kernel speaks over unix sockets in a fresh
    folder of its own instead of TCP ports on localhost. jupyter_client picks free TCP ports by binding and releasing
    them, then the kernel binds them again: with the suite's two workers starting kernels and servers at once, another
    process took a port in between (CI: ``ZMQError: Address already in use``, then "Kernel didn't respond in 60
    seconds"). Socket files in a folder no one else uses cannot collide."""
    from traitlets.config import Config

    folder = tempfile.mkdtemp(prefix="nbk-")  # short: a unix socket path has ~107 bytes
    try:
        yield Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(folder, "kernel")}})
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_notebook(path: Path, work: Path, monkeypatch) -> None:
    """Execute the notebook at ``path`` with ``NEMO_DISTILL_TUTORIALS_DIR=work``; a failing cell raises
    (``CellExecutionError`` naming the cell and its traceback). It must draw a figure, show no error output and write
    under ``work``, not into the checkout."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("NEMO_DISTILL_TUTORIALS_DIR", str(work))
    # the kernel is this environment's Python (the notebooks run the project's scripts with it)
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    notebook = nbformat.read(path, as_version=4)
    with kernel_on_unix_sockets() as config:
        NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3", config=config,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} drew no figure"
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert (work / "quick").is_dir()  # it wrote where it was told, not into the checkout
