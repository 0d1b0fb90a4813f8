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

"""Start NVIDIA's own ``tritonserver`` (2.51, bundled in the ``nvidia-pytriton`` wheel) on an exported repository.

The wheel ships the server binary, its libraries and the Python backend with one stub per Python version; this
module only finds them (``pytriton`` itself is not imported, and its Python dependencies are not needed: install it
with ``pip install --no-deps nvidia-pytriton==0.7.0``), assembles a backend folder with the right stub, and runs the
binary. The stub embeds the system's ``libpython3.X``; Triton 2.51's Python backend reads numpy arrays through
numpy 1's ABI (under numpy 2 inputs arrive scrambled and text requests crash the stub), so the models run with a
folder holding ``numpy<2`` and onnxruntime (``make install`` writes ``.venv/triton-python``), put on their path by
``NEMO_DISTILL_TRITON_PYTHONPATH`` together with this package.

The server runs on a folder of links to the repository's files (each ``config.pbtxt`` copied, with this run's
instance count when ``instances`` is given), so it never writes into the export and a server killed at any point
leaves it as it was. It loads every model at once; one that fails is named with Triton's reason.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from typing import Dict, List, Optional

from nemo_distill.runtime.onnx_client import read_manifest, verify_repository
from nemo_distill.runtime.triton_install import (
    ServerError,
    _without_virtual_environments,
    find_tritonserver,
    python_environment,
)

__all__ = ["ServerError", "TritonServer", "find_tritonserver", "free_port", "free_ports", "python_environment",
           "check_serving_repository"]

FORMAT = "nemo_distill.triton_repository/1"  # deploy.json's "format" (nemo_distill.export.repository writes it)


def check_serving_repository(repo: str) -> Dict:
    """``deploy.json`` of a ``--backend python`` repository whose model files all match their hashes; ValueError or
    FileNotFoundError naming the problem (and the model) otherwise."""
    manifest_path = os.path.join(repo, "deploy.json")
    manifest = read_manifest(repo, check_models=False)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{manifest_path} is not a nemo_distill repository (format {manifest.get('format')!r})")
    if manifest.get("backend") != "python":
        raise ValueError(f"{repo} uses the {manifest.get('backend', 'onnxruntime')} backend, which the bundled server "
                         "lacks (it has only the Python backend): export it with --backend python")
    verify_repository(repo, manifest)  # after the backend check: a wrong backend is named first
    for name in [*manifest["models"], manifest["ensemble"], *(manifest.get("text_models") or {}).values()]:
        if not os.path.isfile(os.path.join(repo, name, "config.pbtxt")):
            raise FileNotFoundError(f"{os.path.join(repo, name, 'config.pbtxt')} ({name}) is missing: export again")
    return manifest


def _models(repo: str) -> List[str]:
    return sorted(n for n in os.listdir(repo) if os.path.isfile(os.path.join(repo, n, "config.pbtxt")))


def free_ports(count: int, exclude=()) -> List[int]:
    """``count`` distinct TCP ports on loopback that nothing listens on now, none of them in ``exclude``. The
    sockets are held open together while the ports are picked: one at a time, the system may hand the port it
    has just released out again, and a server asked for one port twice refuses to start."""
    sockets: List[socket.socket] = []
    try:
        while len(sockets) < count:
            s = socket.socket()
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
            if s.getsockname()[1] in exclude:  # kept open (so not handed out again) but not returned
                count += 1
        return [s.getsockname()[1] for s in sockets if s.getsockname()[1] not in exclude]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    return free_ports(1)[0]


def _with_instances(config_path: str, instances: Optional[int]) -> str:
    """The text of ``config_path``, every instance group's count set to ``instances`` (unchanged for None)."""
    with open(config_path) as f:
        text = f.read()
    if instances is None:
        return text
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    for group in config.instance_group:
        group.count = int(instances)
    return text_format.MessageToString(config)


def _die_with_parent() -> None:
    """(In the server's process, before exec) Linux: SIGTERM when the process that started it dies, so a killed
    ``serve.py`` leaves no server holding its ports."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class TritonServer:
    """``tritonserver`` on ``repo`` (a ``--backend python`` export), on loopback ports; a context manager.

    ``start()`` checks the repository, starts the server and returns once every model is ready (``ServerError``
    naming each model that is not, with Triton's reason); ``stop()`` asks it to finish in-flight requests
    (SIGINT) and kills it after ``stop_timeout`` seconds. The server's log goes to ``log_path``.
    """

    def __init__(self, repo: str, http_port: Optional[int] = None, grpc_port: Optional[int] = None,
                 instances: Optional[int] = None, python_env: Optional[str] = None, host: str = "127.0.0.1",
                 verify: bool = True, log_path: Optional[str] = None, start_timeout: float = 120.0,
                 stop_timeout: float = 30.0):
        if instances is not None and instances < 1:
            raise ValueError(f"instances must be >= 1, got {instances}")
        self.repo = os.path.abspath(repo)
        self.host, self.instances, self.verify = host, instances, verify
        given = (http_port, grpc_port)
        picked = iter(free_ports(sum(port is None for port in given), exclude=given))
        self.http_port, self.grpc_port = http_port or next(picked), grpc_port or next(picked)
        self.python_env, self.log_path, self._given_log = python_env, log_path, log_path
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        self.process: Optional[subprocess.Popen] = None
        self._workdir: Optional[str] = None
        self._stubs_at_start: List[str] = []  # the models' Python-backend processes once ready, one name each

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def command(self) -> List[str]:
        return [self._server["binary"], f"--model-repository={os.path.join(self._workdir, 'repository')}",
                f"--backend-directory={os.path.join(self._workdir, 'backends')}",
                f"--http-address={self.host}", f"--http-port={self.http_port}",
                f"--grpc-address={self.host}", f"--grpc-port={self.grpc_port}", "--allow-metrics=false",
                "--exit-on-error=false", "--strict-readiness=true", "--exit-timeout-secs=30", "--log-verbose=0"]

    def _run_folder(self) -> None:
        """``<workdir>/repository``: the repository as links to its files, each ``config.pbtxt`` copied (with this
        run's instance count): the server never writes into, or changes, the exported repository."""
        run = os.path.join(self._workdir, "repository")
        os.makedirs(run)
        for name in os.listdir(self.repo):
            source = os.path.join(self.repo, name)
            if not os.path.isdir(source):
                os.symlink(source, os.path.join(run, name))
                continue
            if not os.path.isfile(os.path.join(source, "config.pbtxt")):
                continue
            os.makedirs(os.path.join(run, name))
            for entry in os.listdir(source):
                if entry != "config.pbtxt":
                    os.symlink(os.path.join(source, entry), os.path.join(run, name, entry))
            with open(os.path.join(run, name, "config.pbtxt"), "w") as f:
                f.write(_with_instances(os.path.join(source, "config.pbtxt"), self.instances))

    def start(self) -> "TritonServer":
        if self.verify:
            check_serving_repository(self.repo)
        self._server = find_tritonserver()
        pythonpath = python_environment(self.python_env)
        self._workdir = tempfile.mkdtemp(prefix="nemo_distill_triton_")
        backend = os.path.join(self._workdir, "backends", "python")
        os.makedirs(backend)
        for name in os.listdir(self._server["python_backend"]):
            if name != "__pycache__":
                os.symlink(os.path.join(self._server["python_backend"], name), os.path.join(backend, name))
        os.symlink(self._server["stub"], os.path.join(backend, "triton_python_backend_stub"))
        self._run_folder()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (self._server["libs"], env.get("LD_LIBRARY_PATH")) if p)
        env["NEMO_DISTILL_TRITON_PYTHONPATH"] = os.pathsep.join(pythonpath)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing is written beside model.py
        env.pop("PYTHONPATH", None)  # this Python's packages (numpy 2) must not reach the stub
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = _without_virtual_environments(env.get("PATH", ""))
        self.log_path = self._given_log or os.path.join(self._workdir, "tritonserver.log")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        try:
            # the server opens its endpoints once it has tried to load every model
            self._wait(lambda: self._get("/v2/health/live"), "load its models")
            states = {m["name"]: m for m in self._index()}
            failed = {name: (states.get(name, {}).get("reason") or "not loaded (it needs a model that failed)"
                             ).split("\n\nAt:")[0]  # the Python backend appends the traceback
                      for name in _models(self.repo) if states.get(name, {}).get("state") != "READY"}
            if failed:
                first = sorted(failed, key=lambda name: failed[name].startswith("not loaded"))
                raise ServerError("; ".join(f"model {name!r} of {self.repo} is unavailable: {failed[name]}"
                                            for name in first))
            self._wait(lambda: self._get("/v2/health/ready"), "become ready")
            self._stubs_at_start = sorted(self.stubs().values())
        except BaseException:
            self.stop()
            raise
        return self

    def stubs(self) -> Dict[int, str]:
        """``{pid: model}`` of the server's Python-backend processes (one per model instance), read from /proc."""
        found = {}
        if not self.running():
            return found
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = f.read().rsplit(")", 1)[1].split()[1]
                if parent != str(self.process.pid):
                    continue
                with open(f"/proc/{entry}/cmdline") as f:
                    argv = f.read().split("\0")
            except (OSError, IndexError):
                continue  # gone meanwhile
            if argv and argv[0].endswith("triton_python_backend_stub") and len(argv) > 1:
                found[int(entry)] = os.path.basename(os.path.dirname(os.path.dirname(argv[1])))
        return found

    def dead_models(self) -> List[str]:
        """The models with fewer live Python-backend processes than when the server became ready: Triton neither
        restarts such a stub nor stops reporting ready, so every request to that model fails from then on (an
        out-of-memory kill or a crash of onnxruntime in one model is otherwise a silent, permanent outage)."""
        alive = sorted(self.stubs().values())
        return sorted({name for name in self._stubs_at_start if alive.count(name) < self._stubs_at_start.count(name)})

    def _index(self) -> List[Dict]:
        status, text = self._request("POST", "/v2/repository/index", {})
        return json.loads(text) if status == 200 else []

    def _wait(self, check, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"tritonserver exited with code {self.process.returncode} before it could {what}:"
                                  f"\n{self.log_tail()}")
            if check():
                return
            time.sleep(0.2)
        raise ServerError(f"tritonserver did not {what} within {self.start_timeout:.0f} s:\n{self.log_tail()}")

    def _request(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://{self.http_url}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None, ""

    def _get(self, path: str) -> bool:
        return self._request("GET", path)[0] == 200

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._workdir is not None:  # the backend folder (and the log, unless log_path was given)
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
