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

"""The Python-backend models of a ``--backend python`` repository, as Triton's Python backend runs them.

Each exported ``<model>/1/model.py`` imports one class from here as its ``TritonPythonModel``:

* :class:`FrontendModel`, :class:`SamplerModel`, :class:`VocoderModel`: the repository's ONNX graphs (the same
  ``model.onnx`` files the onnxruntime backend would serve) run with onnxruntime. Each request is checked on its own
  (a bad one gets an error response naming the problem; the others in its batch are served), then the good ones of
  a dynamic batch run as one batch and are cropped back. The sampler joins requests of different lengths, padded
  along time: its graph masks every layer past each length, so a request's mel does not depend on its companions.
  NeMo's FastPitch front-end and HiFi-GAN are not exact under padding (measured: the front-end's ``cond`` of a
  short text moves by 0.2 when a longer one pads it), so their configs let Triton join only requests of equal
  shapes.
* :class:`TokenizerModel`: ``TEXT`` (UTF-8 bytes) and ``SEED`` -> ``TOKENS`` and ``NOISE``, exactly the ONNX
  client's tokenizer and starting noise, so text can be sent to the ``tts_text`` ensemble.
* :class:`StreamingTTSModel`: a decoupled model: a paragraph is split at sentence ends and each sentence's audio is
  sent as soon as the ``tts`` ensemble has made it (piece ``j``'s noise from ``SEED + j``).

At load every model checks its own file against the sha256 that ``deploy.json`` records, so a corrupt or missing
file makes that model unavailable with a message naming it. numpy, onnxruntime and Triton's
``triton_python_backend_utils`` only; no torch, no NeMo. The Python backend of Triton 2.51 reads and writes numpy
arrays through numpy 1's ABI, so the server's Python needs ``numpy<2`` (``nemo-distill-serve`` provides one).
"""

import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from nemo_distill.runtime.onnx_client import (
    CharTokenizer,
    onnx_session,
    read_manifest,
    starting_noise,
    verify_repository,
)
from nemo_distill.runtime.text import split_sentences

__all__ = ["FrontendModel", "SamplerModel", "StreamingTTSModel", "TokenizerModel", "VocoderModel"]


def _pb():
    import triton_python_backend_utils as pb_utils  # only inside Triton's Python backend

    return pb_utils


def _parameters(model_config: Dict) -> Dict[str, str]:
    return {key: value.get("string_value", "") for key, value in (model_config.get("parameters") or {}).items()}


class _RepositoryModel:
    """What every model of the repository shares: ``deploy.json``, the tokenizer, the model's own parameters."""

    model_name: str = ""

    def initialize(self, args: Dict) -> None:
        self.model_config = json.loads(args["model_config"])
        self.parameters = _parameters(self.model_config)
        # the exported repository itself, also when the server runs on a folder of links to it (scripts/serve.py)
        run_folder = os.path.dirname(os.path.abspath(args["model_repository"]))
        self.repo = os.path.dirname(os.path.realpath(os.path.join(run_folder, "deploy.json")))
        self.manifest = read_manifest(self.repo, check_models=False)  # deploy.json and the tokenizer
        with open(os.path.join(self.repo, self.manifest["tokenizer"])) as f:
            self.tokenizer = CharTokenizer(json.load(f))

    def _error(self, message: str):
        pb_utils = _pb()
        return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(f"{self.model_name}: {message}"))


class _OnnxGraphModel(_RepositoryModel):
    """One onnxruntime session on ``<model>/1/model.onnx``; subclasses check requests and pad them into a batch."""

    def initialize(self, args: Dict) -> None:
        super().initialize(args)
        self.model_name = self.model_config["name"]
        entry = self.manifest["models"].get(self.model_name)
        if entry is None:
            raise ValueError(f"deploy.json has no model {self.model_name!r}")
        verify_repository(self.repo, {"models": {self.model_name: entry}})  # this model's own file, before its session
        self.session = onnx_session(os.path.join(self.repo, entry["file"]),
                                    threads=int(self.parameters.get("threads", "1")))
        self.output_names = [o["name"] for o in self.model_config["output"]]

    def read(self, request) -> Dict[str, np.ndarray]:
        pb_utils = _pb()
        inputs = {}
        for spec in self.model_config["input"]:
            tensor = pb_utils.get_input_tensor_by_name(request, spec["name"])
            if tensor is None:  # Triton refuses requests without a declared input; a BLS caller might not
                raise ValueError(f"input {spec['name']} is missing")
            inputs[spec["name"]] = tensor.as_numpy()
        self.check(inputs)
        return inputs

    def check(self, inputs: Dict[str, np.ndarray]) -> None:
        """ValueError naming what is wrong with one request's inputs."""

    def batch(self, requests: Sequence[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
        """The requests' inputs as one padded batch."""
        raise NotImplementedError

    def split(self, outputs: Dict[str, np.ndarray], requests: Sequence[Dict[str, np.ndarray]]) -> List[Dict]:
        """The batch's outputs back into one dict per request, cropped to what that request alone would get."""
        raise NotImplementedError

    def execute(self, requests):
        pb_utils = _pb()
        responses: List = [None] * len(requests)
        good, inputs = [], []
        for i, request in enumerate(requests):
            try:
                inputs.append(self.read(request))
                good.append(i)
            except ValueError as error:
                responses[i] = self._error(str(error))
        if good:
            try:
                feeds = self.batch(inputs)
                outputs = dict(zip(self.output_names, self.session.run(self.output_names, feeds)))
                for i, result in zip(good, self.split(outputs, inputs)):
                    responses[i] = pb_utils.InferenceResponse(output_tensors=[
                        pb_utils.Tensor(name, np.ascontiguousarray(value)) for name, value in result.items()])
            except Exception as error:  # onnxruntime's own failure: answer every request of the batch with it
                for i in good:
                    responses[i] = self._error(f"{type(error).__name__}: {error}")
        return responses


def _pad_time(arrays: Sequence[np.ndarray], value=0) -> np.ndarray:
    """``[b_i, ..., T_i]`` arrays -> one ``[sum b_i, ..., max T_i]`` array, padded at the end of time."""
    frames = max(a.shape[-1] for a in arrays)
    return np.concatenate([np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, frames - a.shape[-1])], constant_values=value)
                           for a in arrays])


def _rows(requests: Sequence[Dict[str, np.ndarray]], name: str) -> List[slice]:
    slices, start = [], 0
    for request in requests:
        slices.append(slice(start, start + request[name].shape[0]))
        start += request[name].shape[0]
    return slices


class FrontendModel(_OnnxGraphModel):
    """``tokens [b, L]`` -> ``cond``, ``coarse_mel`` ``[b, C, T]``, ``mel_lens [b]``; refuses an empty text, ids
    outside the vocabulary and more tokens than ``max_tokens``."""

    def check(self, inputs):
        tokens = inputs["tokens"]
        if tokens.shape[0] == 0 or tokens.shape[1] == 0:
            raise ValueError(f"tokens is empty (shape {list(tokens.shape)}): send at least one token per text")
        limit = int(self.manifest["max_tokens"])
        if tokens.shape[1] > limit:
            raise ValueError(f"{tokens.shape[1]} tokens is more than this model's maximum of {limit}: split the text "
                             "(the clients speak long text piece by piece)")
        vocabulary = len(self.tokenizer.tokens)
        outside = tokens[(tokens < 0) | (tokens >= vocabulary)]
        if outside.size:
            raise ValueError(f"token ids {sorted(set(outside.tolist()))[:8]} are outside the vocabulary "
                             f"(0..{vocabulary - 1})")

    def batch(self, requests):
        return {"tokens": _pad_time([r["tokens"] for r in requests], value=self.tokenizer.pad)}

    def split(self, outputs, requests):
        results = []
        for rows in _rows(requests, "tokens"):
            lengths = outputs["mel_lens"][rows]
            frames = int(lengths.max())
            results.append({"cond": outputs["cond"][rows, :, :frames], "coarse_mel": outputs["coarse_mel"][rows, :, :frames],
                            "mel_lens": lengths})
        return results


class SamplerModel(_OnnxGraphModel):
    """``cond``, ``coarse_mel``, ``mel_lens``, ``noise`` -> ``mel [b, n_mels, T]``; refuses noise shorter than the
    utterance."""

    def check(self, inputs):
        frames, noise_frames = inputs["coarse_mel"].shape[-1], inputs["noise"].shape[-1]
        if inputs["noise"].shape[0] != inputs["coarse_mel"].shape[0]:
            raise ValueError(f"noise has {inputs['noise'].shape[0]} rows for {inputs['coarse_mel'].shape[0]} texts")
        if noise_frames < frames:
            raise ValueError(f"noise has {noise_frames} frames but the utterance has {frames}: send "
                             f"max_frames_per_token ({self.manifest['max_frames_per_token']}) x tokens frames")
        if not np.isfinite(inputs["noise"][..., :frames]).all():
            raise ValueError("noise holds NaN or infinite values: send standard normal noise")

    def batch(self, requests):
        frames = max(r["coarse_mel"].shape[-1] for r in requests)
        noise = [r["noise"][..., :frames] for r in requests]  # the graph crops the noise to T itself
        return {"cond": _pad_time([r["cond"] for r in requests]), "coarse_mel": _pad_time([r["coarse_mel"] for r in requests]),
                "mel_lens": np.concatenate([r["mel_lens"] for r in requests]), "noise": _pad_time(noise)}

    def split(self, outputs, requests):
        return [{"mel": outputs["mel"][rows, :, : requests[k]["coarse_mel"].shape[-1]]}
                for k, rows in enumerate(_rows(requests, "coarse_mel"))]


class VocoderModel(_OnnxGraphModel):
    """``spec [b, n_mels, T]`` -> ``audio [b, 1, T * hop]``."""

    def batch(self, requests):
        return {"spec": _pad_time([r["spec"] for r in requests])}

    def split(self, outputs, requests):
        hop = int(self.manifest["hop_length"])
        return [{"audio": outputs["audio"][rows, :, : requests[k]["spec"].shape[-1] * hop]}
                for k, rows in enumerate(_rows(requests, "spec"))]


def _texts(request, name: str = "TEXT") -> List[str]:
    pb_utils = _pb()
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise ValueError(f"input {name} is missing")
    texts = []
    for value in tensor.as_numpy().reshape(-1):
        try:
            texts.append(value.decode("utf-8") if isinstance(value, bytes) else str(value))
        except UnicodeDecodeError as error:
            raise ValueError(f"{name} is not UTF-8 text ({error})") from None
    return texts


def _seeds(request, count: int) -> List[int]:
    pb_utils = _pb()
    tensor = pb_utils.get_input_tensor_by_name(request, "SEED")
    if tensor is None:
        return [0] * count
    seeds = tensor.as_numpy().reshape(-1).tolist()
    if len(seeds) != count:
        raise ValueError(f"{len(seeds)} seeds for {count} texts")
    bad = [s for s in seeds if not 0 <= int(s) < 2 ** 63]
    if bad:
        raise ValueError(f"SEED must be an integer in [0, 2**63), got {bad[0]}")
    return [int(s) for s in seeds]


class TokenizerModel(_RepositoryModel):
    """``TEXT [b, 1]`` (UTF-8) and ``SEED [b, 1]`` -> ``TOKENS [b, L]`` and ``NOISE [b, n_mels, L * max_frames]``:
    the ONNX client's :class:`~nemo_distill.runtime.onnx_client.CharTokenizer` and starting noise (each row's
    noise from its own seed). A text with nothing to speak, or longer than ``max_tokens``, is refused."""

    model_name = "tokenizer"

    def tokens_and_noise(self, texts: Sequence[str], seeds: Sequence[int]):
        tokens = self.tokenizer.encode_batch(texts)  # each text checked, the rows padded with the pad id
        limit = int(self.manifest["max_tokens"])
        if tokens.shape[1] > limit:  # before the noise, which grows with the tokens
            raise ValueError(f"a text of {tokens.shape[1]} tokens is more than this model's maximum of {limit}: split "
                             "it (infer_triton.py and the tts_stream model speak long text piece by piece)")
        noise = np.concatenate([starting_noise(tokens[i : i + 1], self.manifest["n_mels"],
                                               self.manifest["max_frames_per_token"], seed)
                                for i, seed in enumerate(seeds)])
        return tokens, noise

    def execute(self, requests):
        pb_utils = _pb()
        responses = []
        for request in requests:
            try:
                texts = _texts(request)
                tokens, noise = self.tokens_and_noise(texts, _seeds(request, len(texts)))
                responses.append(pb_utils.InferenceResponse(output_tensors=[
                    pb_utils.Tensor("TOKENS", tokens), pb_utils.Tensor("NOISE", noise)]))
            except ValueError as error:
                responses.append(self._error(str(error)))
        return responses


MAX_STREAM_CHARS = 5000  # a paragraph of about five minutes of speech (100 KB had taken the server 72 s)


class StreamingTTSModel(TokenizerModel):
    """Decoupled: ``TEXT [1]`` (a paragraph), ``SEED [1]`` -> one response per sentence, in order, each ``AUDIO
    [samples]`` with ``PIECE [1]`` (its index), then the final flag; sentence ``j`` is the ``tts`` ensemble on its
    tokens with noise from ``SEED + j``, exactly what ``infer_triton.py`` and the ONNX client make of it alone. A
    text over ``max_stream_chars`` (``deploy.json``; :data:`MAX_STREAM_CHARS` by default) is refused."""

    model_name = "tts_stream"

    def execute(self, requests):
        pb_utils = _pb()
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        for request in requests:
            sender = request.get_response_sender()
            try:
                (text,) = _texts(request)
                (seed,) = _seeds(request, 1)
                limit = int(self.manifest.get("max_stream_chars", MAX_STREAM_CHARS))
                if len(text) > limit:  # before any work: the stream's cost grows with the text
                    raise ValueError(f"a text of {len(text)} characters is more than this model's maximum of {limit}: "
                                     "send it in parts")
                self.tokenizer.check(text)
                pieces = [p for p in split_sentences(text) if self.tokenizer.speakable(p)]
                hop = int(self.manifest["hop_length"])
                for j, piece in enumerate(pieces):
                    tokens, noise = self.tokens_and_noise([piece], [seed + j])
                    result = pb_utils.InferenceRequest(
                        model_name=self.manifest["ensemble"], requested_output_names=["AUDIO", "MEL_LENS"],
                        inputs=[pb_utils.Tensor("TOKENS", tokens), pb_utils.Tensor("NOISE", noise)]).exec()
                    if result.has_error():
                        raise ValueError(result.error().message())
                    audio = pb_utils.get_output_tensor_by_name(result, "AUDIO").as_numpy()
                    frames = int(pb_utils.get_output_tensor_by_name(result, "MEL_LENS").as_numpy().reshape(-1)[0])
                    sender.send(pb_utils.InferenceResponse(output_tensors=[
                        pb_utils.Tensor("AUDIO", np.ascontiguousarray(audio[0, 0, : frames * hop])),
                        pb_utils.Tensor("PIECE", np.array([j], dtype=np.int64))]))
                sender.send(flags=final)
            except ValueError as error:
                sender.send(self._error(str(error)), flags=final)
        return None


def model_py(class_name: str) -> str:
    """The ``<model>/1/model.py`` that serves ``class_name`` of this module."""
    if class_name not in __all__:
        raise ValueError(f"unknown model class {class_name!r}")
    return f'''# Written by nemo_distill's export (--backend python): the Python backend's entry point for this model.
# The server's Python must reach nemo_distill, numpy<2 and onnxruntime: `nemo-distill-serve` puts their folders in
# NEMO_DISTILL_TRITON_PYTHONPATH (os.pathsep-separated); with another launcher, set it yourself.
import os
import site

for _folder in os.environ.get("NEMO_DISTILL_TRITON_PYTHONPATH", "").split(os.pathsep):
    if _folder:
        site.addsitedir(_folder)

from nemo_distill.runtime.triton_models import {class_name} as TritonPythonModel  # noqa: E402,F401
'''
