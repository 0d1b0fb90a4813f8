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

"""Serving benchmark: the exported voice behind Triton under 1, 4 and 16 concurrent clients, against the same
repository run in-process by the ONNX client (the cost of serving), and streaming's time to first audio.

Every client is a thread with its own ``tritonclient`` connection (HTTP, loopback), sending a fixed number of
requests (texts taken in turn, each client starting at its own offset), each request a whole text through the
``tts_text`` ensemble; a level stops early once its time budget is spent. Rows: requests, errors, requests per
second, seconds of audio made per second, p50/p95/p99 latency, the text-to-audio real-time factor (mean latency /
mean audio duration of a request) and each request's compute in the front-end, the sampler and the vocoder (Triton's
own per-model statistics over the level). The in-process row runs the same texts one after another with
:class:`~nemo_distill.runtime.onnx_client.OnnxTTSPipeline` while the server is idle, each graph timed apart. The stream
rows send a five-sentence paragraph to ``tts_stream`` and record when its first and last sentence arrive, against
the same paragraph as one ``tts_text`` request. Clients and server share this machine's cores.
"""

import threading
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from nemo_distill.runtime.text import split_sentences

__all__ = ["PARTS", "format_serving_table", "plot_serving", "run_serving_benchmark"]

PARTS = ("frontend", "sampler", "vocoder")  # the repository's graphs, in the ensemble's order


def _percentiles(latencies: Sequence[float]) -> Dict[str, Optional[float]]:
    if not latencies:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    ms = np.asarray(latencies) * 1000.0
    return {f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 95, 99)}


def _load_level(url: str, texts: Sequence[str], clients: int, requests_per_client: int, time_limit: float,
                seed: int) -> Dict:
    from nemo_distill.runtime.triton_client import TritonTTSClient

    latencies: List[float] = []
    audio_seconds, errors, lock = [0.0], [], threading.Lock()
    with TritonTTSClient(url, "http") as stats_client:
        before = stats_client.model_statistics(PARTS)
    barrier = threading.Barrier(clients + 1)
    deadline: List[float] = [0.0]

    def client_loop(index: int) -> None:
        with TritonTTSClient(url, "http") as client:
            barrier.wait()
            for k in range(requests_per_client):
                if time.perf_counter() > deadline[0]:
                    return
                text = texts[(index * requests_per_client + k) % len(texts)]
                start = time.perf_counter()
                try:
                    audio = client.synthesize(text, seed=seed + k)
                except (ValueError, ConnectionError) as error:
                    with lock:
                        errors.append(str(error))
                    continue
                with lock:
                    latencies.append(time.perf_counter() - start)
                    audio_seconds[0] += len(audio) / client.sample_rate

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + time_limit
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    with TritonTTSClient(url, "http") as stats_client:
        after = stats_client.model_statistics(PARTS)
    parts_ms = {part: (after[part]["compute_ms"] - before[part]["compute_ms"])
                / max(after[part]["requests"] - before[part]["requests"], 1) for part in PARTS}
    return {"system": "triton", "clients": clients, "requests": len(latencies) + len(errors), "errors": len(errors),
            "wall_s": wall, "requests_per_s": len(latencies) / wall, "audio_s_per_s": audio_seconds[0] / wall,
            **_percentiles(latencies), "rtf": sum(latencies) / audio_seconds[0] if latencies else None,
            "parts_ms": parts_ms, "first_error": errors[0] if errors else None}


def _in_process(repo: str, texts: Sequence[str], count: int, threads: int, seed: int) -> Dict:
    from nemo_distill.runtime.onnx_client import OnnxTTSPipeline

    pipeline = OnnxTTSPipeline(repo, threads=threads)
    pipeline.synthesize([texts[0]], seed=seed)  # warm-up
    latencies, audio_seconds, parts_s = [], 0.0, dict.fromkeys(PARTS, 0.0)
    start = time.perf_counter()
    for k in range(count):
        t0 = time.perf_counter()
        tokens = pipeline.tokenizer.encode_batch([texts[k % len(texts)]])  # each graph timed apart
        tensors = {"TOKENS": tokens, "NOISE": pipeline.noise(tokens, seed + k)}
        for step in pipeline.manifest["pipeline"]:
            t_step = time.perf_counter()
            pipeline.run_steps(tensors, [step])
            parts_s[step["model"]] += time.perf_counter() - t_step
        latencies.append(time.perf_counter() - t0)
        manifest = pipeline.manifest
        audio_seconds += int(tensors["MEL_LENS"][0]) * manifest["hop_length"] / manifest["sample_rate"]
    wall = time.perf_counter() - start
    return {"system": "onnx in-process", "clients": 1, "requests": count, "errors": 0, "wall_s": wall,
            "requests_per_s": count / wall, "audio_s_per_s": audio_seconds / wall, **_percentiles(latencies),
            "rtf": sum(latencies) / audio_seconds, "parts_ms": {part: 1000 * parts_s[part] / count for part in PARTS},
            "first_error": None}


def _streaming(http_url: str, grpc_url: str, paragraph: str, repeats: int, seed: int) -> Dict:
    from nemo_distill.runtime.triton_client import TritonTTSClient

    first, last, whole = [], [], []
    with TritonTTSClient(grpc_url, "grpc") as streamer, TritonTTSClient(http_url, "http") as client:
        for r in range(repeats):
            arrivals = [seconds for _, _, seconds in streamer.stream(paragraph, seed=seed + r)]
            first.append(arrivals[0])
            last.append(arrivals[-1])
            start = time.perf_counter()
            client.speak(paragraph, seed=seed + r)
            whole.append(time.perf_counter() - start)
    return {"sentences": len(split_sentences(paragraph)), "characters": len(paragraph), "repeats": repeats,
            "first_audio_ms": float(np.median(first) * 1000), "last_audio_ms": float(np.median(last) * 1000),
            "whole_request_ms": float(np.median(whole) * 1000)}


def run_serving_benchmark(repo: str, texts: Sequence[str], paragraph: str, concurrency: Sequence[int] = (1, 4, 16),
                          requests_per_client: int = 8, time_limit: float = 120.0, instances: Optional[int] = None,
                          threads: int = 1, stream_repeats: int = 3, seed: int = 0, urls: Optional[Dict] = None,
                          progress=print) -> Dict:
    """Start the server on ``repo`` (a ``--backend python`` export) on free loopback ports, measure, stop it; or,
    with ``urls`` (``{"http": host:port, "grpc": host:port}``), measure a server that is already serving ``repo``.
    Returns ``{"rows": [...], "stream": {...}, "settings": {...}}``."""
    import contextlib

    from nemo_distill.runtime.triton_client import TritonTTSClient
    from nemo_distill.runtime.triton_server import TritonServer

    if not texts:
        raise ValueError("no texts to send")
    if len(split_sentences(paragraph)) < 2:
        raise ValueError("the streaming paragraph needs at least two sentences")
    if urls is not None and instances is not None:
        raise ValueError("instances applies to a server this benchmark starts, not to one already running")
    rows = []
    running = contextlib.nullcontext(None) if urls else TritonServer(repo, instances=instances)
    with running as server:
        http_url, grpc_url = (urls["http"], urls["grpc"]) if urls else (server.http_url, server.grpc_url)
        with TritonTTSClient(http_url, "http") as warm:
            for text in texts[: min(4, len(texts))]:  # every model has run once before the clock starts
                warm.synthesize(text, seed=seed)
        count = max(requests_per_client, 8)
        progress(f"in-process ONNX client: {count} texts, one after another")
        rows.append(_in_process(repo, texts, count, threads, seed))
        for clients in concurrency:
            progress(f"triton: {clients} concurrent clients x {requests_per_client} requests")
            rows.append(_load_level(http_url, texts, clients, requests_per_client, time_limit, seed))
        progress(f"streaming a {len(split_sentences(paragraph))}-sentence paragraph x {stream_repeats}")
        stream = _streaming(http_url, grpc_url, paragraph, stream_repeats, seed)
    return {"rows": rows, "stream": stream,
            "settings": {"requests_per_client": requests_per_client, "time_limit_s": time_limit,
                         "instances": instances, "server": "given" if urls else "started", "threads": threads,
                         "texts": len(texts), "seed": seed}}


def _cell(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_serving_table(results: Dict) -> str:
    lines = ["| system | clients | requests | errors | requests/s | audio s/s | p50 ms | p95 ms | p99 ms | RTF "
             "| front-end / sampler / vocoder ms per request |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in results["rows"]:
        parts = " / ".join(_cell(row["parts_ms"].get(part), ".1f") for part in PARTS)
        lines.append(f"| {row['system']} | {row['clients']} | {row['requests']} | {row['errors']} | "
                     f"{_cell(row['requests_per_s'], '.2f')} | {_cell(row['audio_s_per_s'], '.2f')} | "
                     f"{_cell(row['p50_ms'], '.0f')} | {_cell(row['p95_ms'], '.0f')} | "
                     f"{_cell(row['p99_ms'], '.0f')} | {_cell(row['rtf'], '.3f')} | {parts} |")
    stream = results["stream"]
    lines += ["", f"Streaming a {stream['sentences']}-sentence paragraph ({stream['characters']} characters; median of "
              f"{stream['repeats']}): first audio after {stream['first_audio_ms']:.0f} ms, last after "
              f"{stream['last_audio_ms']:.0f} ms; the same paragraph as one request: "
              f"{stream['whole_request_ms']:.0f} ms."]
    return "\n".join(lines)


def plot_serving(results: Dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    served = [r for r in results["rows"] if r["system"] == "triton"]
    local = next(r for r in results["rows"] if r["system"] != "triton")
    clients = [r["clients"] for r in served]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, marker in (("p50_ms", "o"), ("p95_ms", "s"), ("p99_ms", "^")):
        left.plot(clients, [r[key] for r in served], marker=marker, label=f"triton {key[:3]}")
    left.axhline(local["p50_ms"], color="gray", linestyle="--", label="in-process p50")
    left.set(xscale="log", xlabel="concurrent clients", ylabel="latency per request (ms)", xticks=clients,
             xticklabels=[str(c) for c in clients], title="latency")
    left.legend()
    right.plot(clients, [r["audio_s_per_s"] for r in served], marker="o", label="triton")
    right.axhline(local["audio_s_per_s"], color="gray", linestyle="--", label="in-process (1 client)")
    right.set(xscale="log", xlabel="concurrent clients", ylabel="seconds of audio per second", xticks=clients,
              xticklabels=[str(c) for c in clients], title="throughput")
    right.legend()
    stream = results["stream"]
    fig.suptitle(f"streaming {stream['sentences']} sentences: first audio {stream['first_audio_ms']:.0f} ms, "
                 f"whole paragraph {stream['whole_request_ms']:.0f} ms")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
