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

"""Serving: NVIDIA's own ``tritonserver`` (2.51, from the ``nvidia-pytriton`` wheel) on a ``--backend python``
export of the tiny voice, on loopback: parity with the ONNX client over HTTP and gRPC, streaming, batching, bad
requests, corrupt files, a server killed while loading, and ``scripts/serve.py`` itself."""

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import wave

import numpy as np
import pytest

TEXT = "Hello world, how are you?"
PARAGRAPH = ("The first sentence is short. The second one is longer, with a comma in it. Third! "
             "Is this the fourth? And this is the fifth and last.")
MAX_TOKENS = 200

pytestmark = pytest.mark.serving  # a real tritonserver: make test-fast leaves this file out


@pytest.fixture(scope="module")
def python_repo(voice, tmp_path_factory):
    """The voice exported by ``scripts/export.py``'s ``main`` with ``--backend python``."""
    from nemo_distill.cli.export import main

    _, _, paths = voice
    out = str(tmp_path_factory.mktemp("serve") / "repo")
    assert main([paths["generator"], out, "--vocoder", paths["vocoder"], "--backend", "python",
                 "--max-tokens", str(MAX_TOKENS), "--max-queue-delay-us", "30000"]) == 0
    return out


@pytest.fixture(scope="module")
def server(python_repo):
    """The server these tests query, started as from an activated venv (its ``bin`` first on PATH, as in a shell
    after ``source .venv/bin/activate`` or in a notebook kernel): that once put the venv's numpy 2 into the
    Python-backend stub, which crashed on text requests. The other tests start theirs with the plain PATH."""
    from unittest import mock

    from nemo_distill.runtime.triton_server import TritonServer

    server = TritonServer(python_repo)
    with mock.patch.dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")):
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pipeline(python_repo):
    from nemo_distill.runtime.onnx_client import OnnxTTSPipeline

    return OnnxTTSPipeline(python_repo)


@pytest.fixture(scope="module")
def clients(server):
    """An HTTP and a gRPC client of ``server``, closed before it stops (a stopping server waits for open ones)."""
    from nemo_distill.runtime.triton_client import TritonTTSClient

    opened = {"http": TritonTTSClient(server.http_url, "http"), "grpc": TritonTTSClient(server.grpc_url, "grpc")}
    yield opened
    for client in opened.values():
        client.close()


def _tree_digest(folder):
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def _wav(path):
    with wave.open(path) as f:
        return f.getframerate(), np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")


# --------------------------------------------------------------------------------------------- the repository
def test_python_repository_serves_the_same_graphs_through_python_models(python_repo):
    import json

    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    with open(os.path.join(python_repo, "deploy.json")) as f:
        manifest = json.load(f)
    assert manifest["backend"] == "python" and manifest["max_tokens"] == MAX_TOKENS
    configs = {}
    for name in ("frontend", "sampler", "vocoder", "tokenizer", "tts", "tts_text", "tts_stream"):
        with open(os.path.join(python_repo, name, "config.pbtxt")) as f:
            configs[name] = text_format.Parse(f.read(), model_config_pb2.ModelConfig())  # the real schema
    for name in ("frontend", "sampler", "vocoder"):
        assert configs[name].backend == "python" and configs[name].dynamic_batching.max_queue_delay_microseconds
        assert os.path.isfile(os.path.join(python_repo, name, "1", "model.onnx"))
        with open(os.path.join(python_repo, name, "1", "model.py")) as f:
            assert "triton_models import" in f.read()
    assert configs["tts_stream"].model_transaction_policy.decoupled
    assert [s.model_name for s in configs["tts_text"].ensemble_scheduling.step] == [
        "tokenizer", "frontend", "sampler", "vocoder"]
    assert configs["tts_text"].parameters["hop_length"].string_value == str(manifest["hop_length"])


# -------------------------------------------------------------------------------------------------- parity
def test_server_audio_equals_the_onnx_clients_over_http_and_grpc(clients, pipeline):
    tokens = pipeline.tokenizer.encode_batch([TEXT])
    noise = pipeline.noise(tokens, seed=5)
    reference = pipeline.run(tokens, noise)
    (spoken,) = pipeline.synthesize([TEXT], seed=3)
    for protocol, client in clients.items():
        result = client.infer("tts", {"TOKENS": tokens, "NOISE": noise})
        assert result["AUDIO"].shape == reference["AUDIO"].shape, protocol
        assert np.abs(result["AUDIO"] - reference["AUDIO"]).max() <= 1e-4, protocol
        assert result["MEL_LENS"].reshape(-1).tolist() == reference["MEL_LENS"].tolist()
        audio = client.synthesize(TEXT, seed=3)  # text in: the server's tokenizer and noise
        assert audio.shape == spoken.shape and np.abs(audio - spoken).max() <= 1e-4, protocol
        assert np.abs(audio - pipeline.synthesize([TEXT], seed=4)[0]).max() > 1e-3  # the seed reaches the noise


def test_infer_triton_writes_the_wav_infer_onnx_writes(server, python_repo, tmp_path):
    onnx_wav = str(tmp_path / "onnx.wav")
    run = subprocess.run([sys.executable, "scripts/infer_onnx.py", python_repo, TEXT, onnx_wav, "--seed", "7"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for protocol, url in (("http", server.http_url), ("grpc", server.grpc_url)):
        out = str(tmp_path / f"{protocol}.wav")
        run = subprocess.run([sys.executable, "scripts/infer_triton.py", url, TEXT, out, "--seed", "7",
                              "--protocol", protocol], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        rate, samples = _wav(out)
        onnx_rate, onnx_samples = _wav(onnx_wav)
        assert rate == onnx_rate and samples.shape == onnx_samples.shape
        assert np.abs(samples.astype(int) - onnx_samples.astype(int)).max() <= 1  # 16-bit PCM of <= 1e-4 apart


def test_stream_sends_each_sentence_in_order_as_the_onnx_client_speaks_it(server, clients, pipeline, tmp_path):
    from nemo_distill.runtime.text import split_sentences

    sentences = split_sentences(PARAGRAPH)
    assert len(sentences) == 5
    chunks = list(clients["grpc"].stream(PARAGRAPH, seed=11))
    assert [index for index, _, _ in chunks] == list(range(5))
    arrivals = [seconds for _, _, seconds in chunks]
    assert arrivals == sorted(arrivals) and arrivals[0] < arrivals[-1]
    for (index, audio, _), sentence in zip(chunks, sentences):
        (reference,) = pipeline.synthesize([sentence], seed=11 + index)
        assert audio.shape == reference.shape and np.abs(audio - reference).max() <= 1e-4
    out = str(tmp_path / "stream.wav")
    run = subprocess.run([sys.executable, "scripts/infer_triton.py", server.grpc_url, PARAGRAPH, out, "--seed", "11",
                          "--protocol", "grpc", "--stream"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("sentence ") == 5
    assert len(_wav(out)[1]) == sum(len(audio) for _, audio, _ in chunks)
    with pytest.raises(ValueError, match="nothing to speak"):
        list(clients["grpc"].stream("?! ...", seed=0))
    # 100 KB of text had taken the server 72 s for one request: refused before any work, by name
    with pytest.raises(ValueError, match="a text of 100000 characters is more than this model's maximum of 5000"):
        list(clients["grpc"].stream("Hello there. " * 7692 + "abcd", seed=0))


def test_concurrent_requests_are_batched_without_changing_their_audio(server, pipeline):
    import tritonclient.http as httpclient

    from nemo_distill.runtime.triton_client import TritonTTSClient

    # two of equal length (the front-end and vocoder may join those), two of others (only the sampler joins them)
    texts = ["Two words.", "Two birds.", "A third, longer text.", "And the fourth text is the longest of them all."]
    references = [pipeline.synthesize([text], seed=i)[0] for i, text in enumerate(texts)]
    stats = httpclient.InferenceServerClient(server.http_url)

    def executions():
        (model,) = stats.get_inference_statistics("sampler")["model_stats"]
        return model["execution_count"], model["inference_count"]

    before = executions()
    results, barrier = [None] * len(texts), threading.Barrier(len(texts))

    def speak(i):
        with TritonTTSClient(server.http_url, "http") as client:
            barrier.wait()
            results[i] = client.synthesize(texts[i], seed=i)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for audio, reference in zip(results, references):
        assert audio is not None and audio.shape == reference.shape
        assert np.abs(audio - reference).max() <= 1e-4  # padded into one batch, cropped back: the same audio
    after = executions()
    stats.close()
    assert after[1] - before[1] == len(texts)
    assert after[0] - before[0] < len(texts)  # fewer sampler runs than requests: the dynamic batcher joined them


# ---------------------------------------------------------------------------------------------- bad requests
def test_each_bad_request_is_refused_by_name_and_the_next_good_one_is_served(clients, pipeline):
    tokens = pipeline.tokenizer.encode_batch([TEXT])
    noise = pipeline.noise(tokens, seed=0)
    good = pipeline.run(tokens, noise)["AUDIO"]
    bad = [
        ("tts", {"TOKENS": np.zeros((1, 0), np.int64), "NOISE": noise}, "tokens is empty"),
        ("tts", {"TOKENS": tokens + 1000, "NOISE": noise}, "outside the vocabulary"),
        ("tts", {"TOKENS": tokens.astype(np.float32), "NOISE": noise}, "data-type is 'FP32'.*expects 'INT64'"),
        ("tts", {"TOKENS": tokens, "NOISE": noise[..., :3]}, "noise has 3 frames but the utterance has"),
        ("tts", {"TOKENS": np.ones((1, MAX_TOKENS + 1), np.int64), "NOISE": np.zeros((1, noise.shape[1], 8), np.float32)},
         f"more than this model's maximum of {MAX_TOKENS}"),
        ("tts", {"TOKENS": tokens}, "missing required input.*NOISE"),
        ("tts_text", {"TEXT": np.array([[b""]], dtype=object), "SEED": np.zeros((1, 1), np.int64)}, "empty text"),
        ("tts_text", {"TEXT": np.array([[b"\xff\xfe"]], dtype=object), "SEED": np.zeros((1, 1), np.int64)},
         "not UTF-8"),
        ("tts_text", {"TEXT": np.array([[b"x" * (MAX_TOKENS + 5)]], dtype=object), "SEED": np.zeros((1, 1), np.int64)}, "tokens is more than"),
        ("tts", {"TOKENS": tokens, "NOISE": np.full_like(noise, np.nan)}, "noise holds NaN or infinite values"),
        ("tts_text", {"TEXT": np.array([[TEXT.encode()]], dtype=object), "SEED": np.full((1, 1), -1, np.int64)},
         r"SEED must be an integer in \[0, 2\*\*63\), got -1"),
    ]
    for protocol, client in clients.items():
        for model, arrays, message in bad:
            with pytest.raises(ValueError, match=message):
                client.infer(model, arrays)
            result = client.infer("tts", {"TOKENS": tokens, "NOISE": noise})  # the server still serves
            assert np.abs(result["AUDIO"] - good).max() <= 1e-4, (protocol, message)


# ------------------------------------------------------------------------------------ files, kills, the script
@pytest.mark.parametrize("damage", ["corrupt", "missing", "config"])
def test_serve_names_a_corrupt_or_missing_model_file_before_starting(python_repo, tmp_path, damage):
    broken = str(tmp_path / "repo")
    shutil.copytree(python_repo, broken)
    path = os.path.join(broken, "sampler", "1", "model.onnx")
    if damage == "corrupt":
        with open(path, "r+b") as f:
            f.seek(100)
            f.write(b"\0" * 16)
    elif damage == "missing":
        os.remove(path)
    else:  # a model without an ONNX file of its own
        os.remove(os.path.join(broken, "tokenizer", "config.pbtxt"))
    run = subprocess.run([sys.executable, "scripts/serve.py", broken, "--http-port", "1", "--grpc-port", "2"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    named = "(tokenizer)" if damage == "config" else "(sampler)"
    assert named in run.stderr and ("corrupt" if damage == "corrupt" else "missing") in run.stderr


def test_serve_refuses_what_the_bundled_server_cannot_serve(python_repo, tmp_path):
    import json

    from nemo_distill.runtime.onnx_client import manifest_digest

    onnx_backend = str(tmp_path / "onnx_backend")
    shutil.copytree(python_repo, onnx_backend)
    with open(os.path.join(onnx_backend, "deploy.json")) as f:
        manifest = json.load(f)
    manifest["backend"] = "onnxruntime"  # a genuine onnxruntime-backend manifest: its digest made again
    manifest["manifest_sha256"] = manifest_digest(manifest)
    with open(os.path.join(onnx_backend, "deploy.json"), "w") as f:
        json.dump(manifest, f)
    for repo, message in ((onnx_backend, "export it with --backend python"), (str(tmp_path), "deploy.json not found")):
        run = subprocess.run([sys.executable, "scripts/serve.py", repo], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and message in run.stderr, run.stderr


def test_a_corrupt_model_file_makes_that_model_unavailable_with_its_name(python_repo, tmp_path):
    """Without serve.py's check (another launcher): the model checks its own file at load."""
    from nemo_distill.runtime.triton_server import ServerError, TritonServer

    broken = str(tmp_path / "repo")
    shutil.copytree(python_repo, broken)
    with open(os.path.join(broken, "vocoder", "1", "model.onnx"), "r+b") as f:
        f.seek(200)
        f.write(b"\1" * 16)
    with pytest.raises(ServerError, match="model 'vocoder' .* is unavailable: .*vocoder.*corrupt"):
        TritonServer(broken, verify=False).start()


def test_a_server_killed_while_loading_serves_again_without_export(python_repo, pipeline):
    from nemo_distill.runtime.triton_server import ServerError, TritonServer

    before = _tree_digest(python_repo)
    server = TritonServer(python_repo)

    def kill_while_loading():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.process is not None and os.path.exists(server.log_path or ""):
                with open(server.log_path, errors="replace") as f:
                    if "loading: " in f.read():
                        os.killpg(server.process.pid, signal.SIGKILL)
                        return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_while_loading)
    killer.start()
    with pytest.raises(ServerError, match="exited with code -9"):
        server.start()
    killer.join()
    assert _tree_digest(python_repo) == before  # nothing in the export was written
    from nemo_distill.runtime.triton_client import TritonTTSClient

    with TritonServer(python_repo) as again, TritonTTSClient(again.http_url, "http") as client:
        (reference,) = pipeline.synthesize([TEXT], seed=1)
        assert np.abs(client.synthesize(TEXT, seed=1) - reference).max() <= 1e-4


@contextlib.contextmanager
def _serve_script(repo, *options):
    """``scripts/serve.py repo`` on two free ports, as its own process: ``(process, http_port, grpc_port)``; killed
    at the end if it is still running."""
    from nemo_distill.runtime.triton_server import free_ports

    http_port, grpc_port = free_ports(2)
    process = subprocess.Popen([sys.executable, "scripts/serve.py", repo, "--http-port", str(http_port),
                                "--grpc-port", str(grpc_port), *options],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process, http_port, grpc_port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_script_prints_its_endpoints_serves_and_stops_on_ctrl_c(python_repo, pipeline):
    from nemo_distill.runtime.triton_client import TritonTTSClient

    with _serve_script(python_repo, "--instances", "2") as (process, http_port, grpc_port):
        line = process.stdout.readline()
        assert f"HTTP 127.0.0.1:{http_port}, gRPC 127.0.0.1:{grpc_port}" in line, (line, process.stderr.read())
        client = TritonTTSClient(f"127.0.0.1:{http_port}", "http")
        config = client.client.get_model_config("sampler")
        assert config["instance_group"][0]["count"] == 2  # --instances, for this run only
        (reference,) = pipeline.synthesize([TEXT], seed=2)
        assert np.abs(client.synthesize(TEXT, seed=2) - reference).max() <= 1e-4
        client.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        assert "stopped" in process.stdout.read()
    with open(os.path.join(python_repo, "sampler", "config.pbtxt")) as f:
        assert "count: 1" in f.read()  # the repository keeps its own instance count


def _children(pid, marker):
    """The pids of ``pid``'s child processes whose command line holds ``marker``."""
    found = []
    for entry in (e for e in os.listdir("/proc") if e.isdigit()):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = f.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{entry}/cmdline") as f:
                if parent == str(pid) and marker in f.read():
                    found.append(int(entry))
        except (OSError, IndexError):
            pass
    return found


@pytest.mark.slow  # two server starts and a restart
def test_serve_notices_a_dead_model_process_restarts_and_then_gives_up(python_repo, pipeline):
    """kill -9 of the sampler's Python-backend process (what the OOM killer would do): every request had failed
    with 'Stub process is not healthy' while /v2/health/ready stayed 200 and serve.py said nothing. serve.py names
    the model, restarts the server on the same ports and serves the same audio; past --max-restarts it exits 1."""
    from nemo_distill.runtime.triton_client import TritonTTSClient

    def kill_the_sampler(serve):
        (server,) = _children(serve.pid, "tritonserver")
        (stub,) = _children(server, "sampler/1/model.py")
        os.kill(stub, signal.SIGKILL)

    (reference,) = pipeline.synthesize([TEXT], seed=5)
    with _serve_script(python_repo, "--watch-interval", "0.5", "--max-restarts", "1") as (process, http_port, _):
        assert "serving" in process.stdout.readline()
        kill_the_sampler(process)
        notice = process.stderr.readline()
        assert "the process of model 'sampler' died: restarting the server (1/1)" in notice, notice
        again = process.stdout.readline()
        assert again.startswith(f"serving {python_repo} again"), again
        with TritonTTSClient(f"127.0.0.1:{http_port}", "http") as client:
            assert np.abs(client.synthesize(TEXT, seed=5) - reference).max() <= 1e-4
        kill_the_sampler(process)
        assert process.wait(60) == 1
        assert "model 'sampler' died and 1 restart(s) were allowed" in process.stderr.read()


def test_missing_server_or_python_packages_are_named_with_the_fix(tmp_path, monkeypatch):
    import importlib.util

    from nemo_distill.runtime import triton_server

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pytriton" else real_find_spec(name, *a))
    with pytest.raises(triton_server.ServerError, match="pip install --no-deps nvidia-pytriton"):
        triton_server.find_tritonserver()
    monkeypatch.undo()
    with pytest.raises(triton_server.ServerError, match="does not exist"):
        triton_server.python_environment(str(tmp_path / "nowhere"))
    for name in ("numpy-2.4.6.dist-info", "onnxruntime-1.32.0.dist-info"):
        os.makedirs(tmp_path / "numpy2" / name)
    with pytest.raises(triton_server.ServerError, match="needs numpy<2"):
        triton_server.python_environment(str(tmp_path / "numpy2"))


def test_serving_benchmark_measures_the_server_against_the_in_process_client(server, python_repo, tmp_path):
    import json

    out, texts = str(tmp_path / "bench"), tmp_path / "texts.txt"
    texts.write_text("One two.\nThree, four!\nFive six seven?\nEight.\nNine and ten.\nEleven twelve.\n")
    run = subprocess.run([sys.executable, "scripts/benchmark_serving.py", python_repo, "--text-file", str(texts),
                          "--concurrency", "1", "2", "--requests", "2", "--stream-repeats", "1", "--out-dir", out,
                          "--http-url", server.http_url, "--grpc-url", server.grpc_url],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    rows = {(row["system"], row["clients"]): row for row in results["rows"]}
    assert set(rows) == {("onnx in-process", 1), ("triton", 1), ("triton", 2)}
    assert rows[("triton", 2)]["requests"] == 4 and all(row["errors"] == 0 for row in rows.values())
    assert all(0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] for row in rows.values())
    for row in rows.values():  # each request's time in each graph (Triton's own statistics for the served rows)
        assert row["rtf"] > 0 and all(row["parts_ms"][part] > 0 for part in ("frontend", "sampler", "vocoder"))
        assert sum(row["parts_ms"].values()) < row["p99_ms"]  # the graphs' compute is part of a request's latency
    stream = results["stream"]
    assert stream["sentences"] == 5 and 0 < stream["first_audio_ms"] < stream["last_audio_ms"]
    assert os.path.getsize(os.path.join(out, "serving.png")) > 0 and "| triton | 2 |" in run.stdout
