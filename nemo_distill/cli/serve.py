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

"""Serve an exported voice with NVIDIA Triton Inference Server (the ``tritonserver`` of the ``nvidia-pytriton``
wheel), on CPU.

    python scripts/export.py STUDENT.nemo REPO --backend python
    python scripts/serve.py REPO [--http-port 8000] [--grpc-port 8001] [--instances N]
    python scripts/infer_triton.py localhost:8000 "Hello world." out.wav

Checks the repository first (every model file against the hash ``deploy.json`` records), starts the server, loads
each model (one that fails is named with Triton's reason), prints the endpoints once every model is ready, and on
Ctrl-C (or SIGTERM) lets in-flight requests finish and stops. ``--instances`` sets every model's instance count for
this run (the repository is not written). Listens on 127.0.0.1 unless ``--host`` says otherwise.

Liveness: every ``--watch-interval`` seconds it checks that each model's Python-backend process is alive (Triton
restarts none and keeps answering ready while every request to that model fails). When one has died it names the
model and restarts the server on the same repository and ports (``--max-restarts`` times in all, each logged); past
that it exits with code 1, so a supervisor sees it. While it restarts the endpoints are down: a load balancer's
readiness check fails instead of sending traffic to a dead voice.
"""

import argparse
import signal
import sys
import threading


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", help="model repository written by scripts/export.py --backend python")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--instances", type=int, default=None,
                        help="CPU instances of each model for this run (default: the repository's)")
    parser.add_argument("--python-env", default=None,
                        help="folder with numpy<2 and onnxruntime for the Python backend "
                             "(default: $NEMO_DISTILL_TRITON_PYTHON or <venv>/triton-python)")
    parser.add_argument("--log", default=None, help="append the server's log to this file")
    parser.add_argument("--start-timeout", type=float, default=300.0, help="seconds to wait for every model")
    parser.add_argument("--watch-interval", type=float, default=2.0,
                        help="seconds between liveness checks of the models' processes")
    parser.add_argument("--max-restarts", type=int, default=3,
                        help="server restarts after a model's process died, then exit 1 (0: exit at once)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.max_restarts < 0 or not args.watch_interval > 0:
        print("error: --max-restarts must be >= 0 and --watch-interval > 0", file=sys.stderr)
        return 2
    from nemo_distill.runtime.triton_server import ServerError, TritonServer

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = TritonServer(args.repo, http_port=args.http_port, grpc_port=args.grpc_port, host=args.host,
                              instances=args.instances, python_env=args.python_env, log_path=args.log,
                              start_timeout=args.start_timeout)
        server.start()
    except (ServerError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"serving {args.repo}: HTTP {server.http_url}, gRPC {server.grpc_url} (models tts, tts_text, tts_stream); "
          "Ctrl-C stops", flush=True)
    restarts = 0
    try:
        while not stop.wait(args.watch_interval):
            if not server.running():
                print(f"error: tritonserver exited with code {server.process.returncode}:\n{server.log_tail()}",
                      file=sys.stderr)
                return 1
            dead = server.dead_models()
            if not dead:
                continue
            names = ", ".join(repr(name) for name in dead)
            if restarts >= args.max_restarts:
                print(f"error: the process of model {names} died and {restarts} restart(s) were allowed "
                      "(--max-restarts): stopping", file=sys.stderr)
                return 1
            restarts += 1
            print(f"the process of model {names} died: restarting the server ({restarts}/{args.max_restarts})",
                  file=sys.stderr, flush=True)
            server.stop()
            try:
                server.start()
            except (ServerError, ValueError, FileNotFoundError) as error:
                print(f"error: restart failed: {error}", file=sys.stderr)
                return 1
            print(f"serving {args.repo} again: HTTP {server.http_url}, gRPC {server.grpc_url}", flush=True)
    finally:
        server.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
