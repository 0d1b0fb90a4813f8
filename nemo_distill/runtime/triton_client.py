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

"""Text to wav from a running Triton server (``scripts/serve.py`` on a ``--backend python`` export), with NVIDIA's
``tritonclient`` over HTTP or gRPC; no torch, no NeMo, no model files on the client.

    python scripts/infer_triton.py localhost:8000 "Hello world." out.wav [--seed 0]
    python scripts/infer_triton.py localhost:8001 "Hello world. Bye now." out.wav --protocol grpc --stream
    nemo-distill-infer-triton ...                                    # the same, as installed by pip

The text goes to the ``tts_text`` ensemble (the server tokenizes it and draws the starting noise from the seed
exactly as the ONNX client does), so the wav equals ``infer_onnx.py``'s for the same text and seed. A text longer
than 300 characters is sent piece by piece as the ONNX client speaks it (piece ``j`` with seed ``seed + j``).
``--stream`` (gRPC) sends the whole text to the decoupled ``tts_stream`` model and writes each sentence's audio to
the wav as it arrives; it prints the time to the first audio and to the last.
"""

import argparse
import sys
import time
from typing import Dict, Iterator, List, Tuple

import numpy as np

from nemo_distill.runtime.onnx_client import write_wav
from nemo_distill.runtime.text import MAX_CHARS, split_text

__all__ = ["TritonTTSClient", "main"]


class TritonTTSClient:
    """A voice served by Triton: :meth:`synthesize` (one request per piece of text) and :meth:`stream`."""

    def __init__(self, url: str, protocol: str = "http", timeout: float = 300.0):
        if protocol not in ("http", "grpc"):
            raise ValueError(f"protocol must be http or grpc, got {protocol!r}")
        self.url, self.protocol, self.timeout = url, protocol, timeout
        if protocol == "http":
            import tritonclient.http as client_module

            self.client = client_module.InferenceServerClient(url, network_timeout=timeout, connection_timeout=timeout)
        else:
            import tritonclient.grpc as client_module

            self.client = client_module.InferenceServerClient(url)
        self.module = client_module
        settings = self._parameters("tts_text")
        self.sample_rate, self.hop_length = int(settings["sample_rate"]), int(settings["hop_length"])

    def close(self) -> None:
        """Close the connection (a server that is stopping waits for open HTTP connections)."""
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _parameters(self, model: str) -> Dict[str, str]:
        try:
            if self.protocol == "http":
                config = self.client.get_model_config(model)
                return {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
            config = self.client.get_model_config(model).config
            return {k: v.string_value for k, v in config.parameters.items()}
        except Exception as error:  # tritonclient's InferenceServerException, or the connection's own
            raise ConnectionError(f"no nemo_distill voice at {self.url} ({self.protocol}): {error}") from None

    def model_statistics(self, models=("frontend", "sampler", "vocoder")) -> Dict[str, Dict[str, float]]:
        """Triton's own cumulative statistics of ``models``: ``{model: {"requests", "compute_ms", "queue_ms"}}``
        (successful requests, and the time they spent executing and waiting in the model's queue)."""
        found = {}
        for model in models:
            stats = self.client.get_inference_statistics(model)
            if self.protocol == "http":
                entry = stats["model_stats"][0]["inference_stats"]
                value = lambda key, field: int(entry[key][field])  # noqa: E731
            else:
                entry = stats.model_stats[0].inference_stats
                value = lambda key, field: int(getattr(getattr(entry, key), field))  # noqa: E731
            found[model] = {"requests": value("success", "count"), "compute_ms": value("compute_infer", "ns") / 1e6,
                            "queue_ms": value("queue", "ns") / 1e6}
        return found

    def _inputs(self, arrays: Dict[str, np.ndarray]) -> List:
        inputs = []
        for name, array in arrays.items():
            datatype = "BYTES" if array.dtype == object else {np.dtype(np.int64): "INT64",
                                                              np.dtype(np.float32): "FP32"}[array.dtype]
            tensor = self.module.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        return inputs

    def infer(self, model: str, arrays: Dict[str, np.ndarray], outputs=("AUDIO", "MEL_LENS")) -> Dict[str, np.ndarray]:
        """One request to ``model``; ``ValueError`` with the server's message if it refuses it."""
        requested = [self.module.InferRequestedOutput(name) for name in outputs]
        try:
            result = self.client.infer(model, self._inputs(arrays), outputs=requested)
        except Exception as error:
            raise ValueError(f"{model}: {getattr(error, 'message', lambda: str(error))()}") from None
        return {name: result.as_numpy(name) for name in outputs}

    def speak(self, text: str, seed: int = 0) -> np.ndarray:
        """One piece of text -> its waveform (the ``tts_text`` ensemble)."""
        result = self.infer("tts_text", {"TEXT": np.array([[text.encode("utf-8")]], dtype=object),
                                         "SEED": np.array([[seed]], dtype=np.int64)})
        return result["AUDIO"][0, 0, : int(result["MEL_LENS"].reshape(-1)[0]) * self.hop_length]

    def synthesize(self, text: str, seed: int = 0, max_chars: int = MAX_CHARS) -> np.ndarray:
        """A text -> its waveform; longer than ``max_chars``, piece by piece as the ONNX client does."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"empty text: {text!r}")
        if len(text) <= max_chars:
            return self.speak(text, seed)
        pieces = [p for p in split_text(text, max_chars) if any(c.isalnum() for c in p)]
        return np.concatenate([self.speak(piece, seed + j) for j, piece in enumerate(pieces)])

    def stream(self, text: str, seed: int = 0) -> Iterator[Tuple[int, np.ndarray, float]]:
        """``(sentence index, audio, seconds since the request)`` for each sentence of ``text`` as the decoupled
        ``tts_stream`` model sends it (gRPC only)."""
        if self.protocol != "grpc":
            raise ValueError("streaming needs the gRPC protocol (--protocol grpc and the server's gRPC port)")
        import queue

        responses: "queue.Queue" = queue.Queue()
        self.client.start_stream(callback=lambda result, error: responses.put((result, error)))
        start = time.perf_counter()
        try:
            self.client.async_stream_infer(
                "tts_stream", self._inputs({"TEXT": np.array([text.encode("utf-8")], dtype=object),
                                            "SEED": np.array([seed], dtype=np.int64)}),
                outputs=[self.module.InferRequestedOutput("AUDIO"), self.module.InferRequestedOutput("PIECE")],
                enable_empty_final_response=True)
            while True:
                try:
                    result, error = responses.get(timeout=self.timeout)
                except queue.Empty:
                    raise ConnectionError(f"tts_stream at {self.url} sent nothing for {self.timeout:.0f} s") from None
                if error is not None:
                    raise ValueError(f"tts_stream: {error.message()}")
                if result.get_response().parameters["triton_final_response"].bool_param:
                    if result.as_numpy("AUDIO") is None:
                        return
                yield int(result.as_numpy("PIECE")[0]), result.as_numpy("AUDIO"), time.perf_counter() - start
        finally:
            self.client.stop_stream()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server's address, host:port (HTTP port for http, gRPC port for grpc)")
    parser.add_argument("text", help="text to speak")
    parser.add_argument("output", help="output .wav")
    parser.add_argument("--protocol", choices=["http", "grpc"], default="http")
    parser.add_argument("--seed", type=int, default=0, help="seed of the starting noise")
    parser.add_argument("--stream", action="store_true", help="one response per sentence as it is made (gRPC)")
    args = parser.parse_args(argv)
    if args.stream and args.protocol != "grpc":
        print("error: --stream needs --protocol grpc (and the server's gRPC port)", file=sys.stderr)
        return 2
    try:
        with TritonTTSClient(args.url, args.protocol) as client:
            audio = _run(client, args)
    except (ValueError, ConnectionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_wav(args.output, audio, client.sample_rate)
    print(f"{args.output}: {len(audio) / client.sample_rate:.2f} s")
    return 0


def _run(client: TritonTTSClient, args) -> np.ndarray:
    if not args.stream:
        return client.synthesize(args.text, args.seed)
    chunks = []
    for index, audio, seconds in client.stream(args.text, args.seed):
        chunks.append(audio)
        print(f"sentence {index}: {len(audio) / client.sample_rate:.2f} s of audio at {seconds * 1000:.0f} ms")
    if not chunks:
        raise ValueError("the server sent no audio")
    return np.concatenate(chunks)


if __name__ == "__main__":
    sys.exit(main())
