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

"""What the bundled Triton server needs on this machine: the ``tritonserver`` of the ``nvidia-pytriton`` wheel, a
Python-backend stub that can run here, and the folder of packages (numpy<2, onnxruntime) its models import.
Standard library only; :mod:`nemo_distill.runtime.triton_server` starts the server with them.
"""

import glob
import importlib.util
import os
import subprocess
import sys
from typing import Dict, List, Optional

__all__ = ["ServerError", "find_tritonserver", "python_environment"]


class ServerError(RuntimeError):
    """The server cannot be started or a model cannot be loaded (the message names which and why)."""


def find_tritonserver() -> Dict[str, str]:
    """Paths of the bundled server: ``binary``, ``libs``, ``python_backend`` (folder) and ``stub`` (for a Python
    whose shared library is on this machine). ``ServerError`` with the install command when it is missing."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("the Triton server is not installed: pip install --no-deps nvidia-pytriton==0.7.0 "
                          "(make install does; it ships tritonserver 2.51 with the Python backend)")
    root = os.path.join(list(spec.submodule_search_locations)[0], "tritonserver")
    paths = {"binary": os.path.join(root, "bin", "tritonserver"),
             "libs": os.path.join(os.path.dirname(os.path.dirname(root)), "nvidia_pytriton.libs"),
             "python_backend": os.path.join(root, "backends", "python")}
    for name, path in paths.items():
        if not os.path.exists(path):
            raise ServerError(f"the nvidia-pytriton install is incomplete: {path} ({name}) is missing")
    versions = [f"{sys.version_info.major}.{sys.version_info.minor}"]
    versions += sorted({os.path.basename(os.path.dirname(p)) for p in
                        glob.glob(os.path.join(root, "python_backend_stubs", "*", "triton_python_backend_stub"))}
                       - set(versions), reverse=True)
    for version in versions:
        stub = os.path.join(root, "python_backend_stubs", version, "triton_python_backend_stub")
        if os.path.isfile(stub) and _links(stub):
            return {**paths, "stub": stub}
    raise ServerError(f"no Python backend stub can run here: each needs the shared library libpython3.X.so.1.0 "
                      f"(tried {', '.join(versions)}; on Debian: apt-get install libpython3.11)")


def _links(binary: str) -> bool:
    try:
        result = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return True  # no ldd: let the server say it
    return result.returncode == 0 and "not found" not in result.stdout


def _without_virtual_environments(path: str) -> str:
    """``path`` (a PATH) without virtual environments' ``bin`` folders. The Python-backend stub's embedded
    interpreter takes its prefix from the first ``python3`` on PATH: an activated venv's (or a notebook kernel's)
    brought that venv's site-packages, numpy 2 included, into the stub, which then crashed on the first text request
    (``unpack_from requires a buffer of at least 976894526 bytes``)."""
    return os.pathsep.join(folder for folder in path.split(os.pathsep)
                           if folder and not os.path.isfile(os.path.join(folder, os.pardir, "pyvenv.cfg")))


def python_environment(folder: Optional[str] = None) -> List[str]:
    """The folders the Python-backend models import from: ``folder`` (numpy<2 and onnxruntime; default
    ``$NEMO_DISTILL_TRITON_PYTHON`` or ``<this Python's prefix>/triton-python``) and this package's parent."""
    folder = folder or os.environ.get("NEMO_DISTILL_TRITON_PYTHON") or os.path.join(sys.prefix, "triton-python")
    install = (f"pip install --target {folder} 'numpy<2' onnxruntime (make install does)")
    if not os.path.isdir(folder):
        raise ServerError(f"the Python backend's packages are missing: {folder} does not exist: {install}")
    numpy = glob.glob(os.path.join(folder, "numpy-*.dist-info"))
    if not numpy or not glob.glob(os.path.join(folder, "onnxruntime-*.dist-info")):
        raise ServerError(f"{folder} lacks numpy or onnxruntime: {install}")
    if not os.path.basename(numpy[0]).startswith("numpy-1."):
        raise ServerError(f"{folder} has {os.path.basename(numpy[0])[:-10]}: Triton 2.51's Python backend needs "
                          f"numpy<2: {install}")
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return [os.path.abspath(folder), package_root]
