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

"""A Riva/Triton-style model repository for a diffusion voice: text front-end -> K-step sampler -> HiFi-GAN.

Layout (one folder per model, Triton's ``<model>/config.pbtxt`` + ``<model>/1/model.onnx``)::

    OUT_DIR/
      frontend/           tokens [B, L] -> cond, coarse_mel, mel_lens          (FastPitch, NeMo's infer path)
      sampler/            cond, coarse_mel, mel_lens, noise -> mel            (K steps unrolled, noise cropped in-graph)
      vocoder/            mel -> audio [B, 1, T * hop]                         (NeMo's HifiGanModel export; int8
                                                                               with ``quantize_vocoder``)
      tts/                the ensemble wiring the three (inputs TOKENS, NOISE; outputs AUDIO, MEL_LENS)
      denoiser_step/      one denoiser call, with ``include_step`` (for runtimes that drive the loop)
      tokenizer.json      the character tokenizer the client applies (:mod:`~nemo_distill.export.tokenizer_spec`)
      deploy.json         the pipeline (same wiring as the ensemble), audio/mel settings, model hashes, lineage

``backend="onnxruntime"`` (the default) serves the graphs with Triton's onnxruntime backend (a production Triton or
Riva). ``backend="python"`` serves the same ``model.onnx`` files through Python-backend models (``1/model.py``, see
:mod:`nemo_distill.runtime.triton_models`), for a Triton without the onnxruntime backend, such as the one in the
``nvidia-pytriton`` wheel that ``scripts/serve.py`` starts, and adds three models that take text::

      tokenizer/          TEXT (UTF-8), SEED -> TOKENS, NOISE                   (the ONNX client's tokenizer and noise)
      tts_text/           the ensemble tokenizer -> tts's steps (inputs TEXT, SEED; outputs AUDIO, MEL_LENS)
      tts_stream/         decoupled: a paragraph -> one AUDIO response per sentence, as each is ready

The repository is built in a temporary sibling folder and moved into place in one rename, so an interrupted
export leaves no half-written repository; an existing ``OUT_DIR`` is refused unless ``overwrite``, and even then
it is only removed after the new one is complete.
"""

import json
import os
import shutil
from typing import Dict, Optional

from nemo.utils import logging
from nemo_distill.export.quantize import QUANTIZATION_MODES, quantize_int8
from nemo_distill.export.triton_config import ensemble_config, onnx_model_config, python_model_config, to_pbtxt
from nemo_distill.parts.deployment import Deployment
from nemo_distill.parts.mel_settings import check_mel_settings_match
from nemo_distill.runtime.onnx_client import manifest_digest
from nemo_distill.runtime.triton_server import FORMAT
from nemo_distill.utils.files import sha256_file, write_json_atomic
from nemo_distill.utils.locks import path_lock

__all__ = ["BACKENDS", "FORMAT", "export_triton_repository", "pipeline_steps"]

ENSEMBLE = "tts"
TEXT_ENSEMBLE = "tts_text"
STREAM = "tts_stream"
BACKENDS = ("onnxruntime", "python")
_GRAPH_CLASSES = {"frontend": "FrontendModel", "sampler": "SamplerModel", "vocoder": "VocoderModel"}


def pipeline_steps():
    """The ensemble's steps, ``{"model", "inputs": {model input: tensor}, "outputs": {model output: tensor}}``."""
    return [
        {"model": "frontend", "inputs": {"tokens": "TOKENS"},
         "outputs": {"cond": "cond", "coarse_mel": "coarse_mel", "mel_lens": "MEL_LENS"}},
        {"model": "sampler", "inputs": {"cond": "cond", "coarse_mel": "coarse_mel", "mel_lens": "MEL_LENS",
                                        "noise": "NOISE"}, "outputs": {"mel": "MEL"}},
        {"model": "vocoder", "inputs": {"spec": "MEL"}, "outputs": {"audio": "AUDIO"}},
    ]


def _tensor_specs(n_mels: int, cond_channels: int) -> Dict:
    return {
        "tokens": ("tokens", "TYPE_INT64", [-1]),
        "cond": ("cond", "TYPE_FP32", [cond_channels, -1]),
        "coarse_mel": ("coarse_mel", "TYPE_FP32", [n_mels, -1]),
        "mel_lens": ("mel_lens", "TYPE_INT64", []),
        "noise": ("noise", "TYPE_FP32", [n_mels, -1]),
        "mel": ("mel", "TYPE_FP32", [n_mels, -1]),
        "spec": ("spec", "TYPE_FP32", [n_mels, -1]),
        "audio": ("audio", "TYPE_FP32", [1, -1]),
    }


def _renamed(spec, name):
    return (name,) + tuple(spec[1:])


def _write_config(root: str, name: str, config: Dict) -> None:
    os.makedirs(os.path.join(root, name, "1"), exist_ok=True)  # Triton wants a version folder (empty for ensembles)
    with open(os.path.join(root, name, "config.pbtxt"), "w") as f:
        f.write(to_pbtxt(config))


def _write_python_model(root: str, name: str, class_name: str, config: Dict) -> None:
    from nemo_distill.runtime.triton_models import model_py

    _write_config(root, name, config)
    with open(os.path.join(root, name, "1", "model.py"), "w") as f:
        f.write(model_py(class_name))


def _write_model(root: str, name: str, export_fn, inputs, outputs, max_batch_size: int, serving: Dict) -> Dict:
    """``<name>/1/model.onnx`` and its config: an onnxruntime model, or for ``serving["backend"] == "python"`` the
    same graph behind a Python-backend ``model.py``."""
    os.makedirs(os.path.join(root, name, "1"))
    onnx_path = os.path.join(root, name, "1", "model.onnx")
    export_fn(onnx_path)
    scheduling = serving["scheduling"]
    if serving["backend"] == "python" and name in _GRAPH_CLASSES:
        # only the sampler's graph is exact under padding (every layer masks past the length); NeMo's FastPitch
        # front-end and HiFi-GAN are not, so Triton joins their requests only when their shapes agree
        config = python_model_config(name, inputs, outputs, max_batch_size, **scheduling,
                                     parameters={"threads": serving["threads"]}, ragged=name == "sampler")
        _write_python_model(root, name, _GRAPH_CLASSES[name], config)
    else:
        _write_config(root, name, onnx_model_config(name, inputs, outputs, max_batch_size, **scheduling))
    return {"file": os.path.relpath(onnx_path, root), "sha256": sha256_file(onnx_path),
            "bytes": os.path.getsize(onnx_path)}


def _write_text_models(root: str, spec: Dict, steps_wiring, max_batch_size: int, serving: Dict,
                       audio_settings: Dict) -> None:
    """The Python-backend models that take text: ``tokenizer``, the ``tts_text`` ensemble and ``tts_stream``."""
    text, seed = ("TEXT", "TYPE_STRING", [1]), ("SEED", "TYPE_INT64", [1])
    tokens, noise = _renamed(spec["tokens"], "TOKENS"), _renamed(spec["noise"], "NOISE")
    audio, mel_lens = _renamed(spec["audio"], "AUDIO"), _renamed(spec["mel_lens"], "MEL_LENS")
    _write_python_model(root, "tokenizer", "TokenizerModel", python_model_config(
        "tokenizer", [text, seed], [tokens, noise], max_batch_size, instances=serving["scheduling"]["instances"]))
    tokenize = {"model": "tokenizer", "inputs": {"TEXT": "TEXT", "SEED": "SEED"},
                "outputs": {"TOKENS": "TOKENS", "NOISE": "NOISE"}}
    _write_config(root, TEXT_ENSEMBLE, ensemble_config(
        TEXT_ENSEMBLE, [text, seed], [audio, mel_lens], [tokenize, *steps_wiring], max_batch_size,
        parameters=audio_settings))
    _write_python_model(root, STREAM, "StreamingTTSModel", python_model_config(
        STREAM, [text, seed], [("AUDIO", "TYPE_FP32", [-1]), ("PIECE", "TYPE_INT64", [1])], 0,
        instances=serving["scheduling"]["instances"], decoupled=True, parameters=audio_settings))


# what a static int8 vocoder graph is calibrated on: the generator's mels of these (held-out style) sentences
CALIBRATION_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore, and the shells she sells are surely seashells.",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "Please call Stella and ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow.",
    "Is it raining? Yes, and the wind is cold, but we will walk home anyway.",
)


def _vocoder_export(vocoder, quantize: Optional[str], deployment: Deployment):
    """The vocoder graph's writer: NeMo's ``HifiGanModel.export``, then int8 quantisation when asked."""
    def export(path: str) -> None:
        if quantize is None:
            vocoder.export(path)
            return
        float_path = path + ".float.onnx"
        vocoder.export(float_path)
        calibration = None
        if quantize == "static":
            calibration = [{"spec": mel[None]} for mel in deployment.calibration_mels(CALIBRATION_TEXTS)]
        try:
            quantize_int8(float_path, path, quantize, calibration)
        finally:
            os.remove(float_path)

    return export


def export_triton_repository(
    generator,
    out_dir: str,
    vocoder=None,
    steps: Optional[int] = None,
    allow_step_mismatch: bool = False,
    overwrite: bool = False,
    max_batch_size: int = 8,
    include_step: bool = False,
    sources: Optional[Dict[str, str]] = None,
    backend: str = "onnxruntime",
    instances: int = 1,
    dynamic_batching: bool = True,
    max_queue_delay_us: int = 2000,
    threads: int = 1,
    max_tokens: int = 1024,
    layer_budget: Optional[int] = None,
    quantize_vocoder: Optional[str] = None,
) -> str:
    """Write the repository for ``generator`` (a ``DiffusionSpectrogramGenerator``, read only through its
    :meth:`deployment` description, or that :class:`~nemo_distill.parts.deployment.Deployment` itself) and
    ``vocoder`` (a ``HifiGanModel`` with the same mel settings) to ``out_dir``; returns ``out_dir``.

    Every check runs before anything is written: an existing ``out_dir`` without ``overwrite``, the step count
    (:func:`~nemo_distill.parts.export_graphs.export_sampler_steps`), the vocoder's mel settings, the tokenizer.
    ``sources`` (``{"generator": path, "vocoder": path}``) are hashed into ``deploy.json``. NeMo's HiFi-GAN export
    removes the vocoder's weight norm in place (same outputs).

    Serving: ``backend`` (:data:`BACKENDS`), ``instances`` CPU instances of each model, Triton's dynamic batcher
    (``max_queue_delay_us``), onnxruntime ``threads`` per Python-backend instance, and ``max_tokens``, the longest
    token sequence a request may hold (the front-end's memory grows with its square; clients split longer text).
    ``layer_budget``: residual blocks per denoiser call in the sampler (and step) graph (None: the generator's
    ``diffusion.layer_budget``, by default all); the graphs hold only those blocks. ``quantize_vocoder``
    (``dynamic`` or ``static``, :func:`~nemo_distill.export.quantize.quantize_int8`) stores the vocoder graph as
    int8; ``static`` calibrates it on the generator's own mels of :data:`CALIBRATION_TEXTS` at the exported steps.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    for name, value in (("instances", instances), ("threads", threads), ("max_tokens", max_tokens)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if include_step and backend == "python":
        raise ValueError("include_step (denoiser_step/) is for runtimes that drive the sampling loop themselves: "
                         "export it with the onnxruntime backend")
    if max_queue_delay_us < 0:
        raise ValueError(f"max_queue_delay_us must be >= 0, got {max_queue_delay_us}")
    if quantize_vocoder is not None and quantize_vocoder not in QUANTIZATION_MODES:
        raise ValueError(f"unknown vocoder quantisation {quantize_vocoder!r}: choose one of "
                         f"{', '.join(QUANTIZATION_MODES)}")
    serving = {"backend": backend, "threads": int(threads),
               "scheduling": {"instances": int(instances), "dynamic_batching": bool(dynamic_batching),
                              "max_queue_delay_us": int(max_queue_delay_us)}}
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} exists: pass overwrite=True (--overwrite) to replace it (it is only "
                              "removed once the new repository is complete)")
    if vocoder is None:
        raise ValueError("a vocoder is needed: the ensemble turns text into audio (export a HiFi-GAN .nemo trained "
                         "with the generator's mel settings)")
    if isinstance(generator, Deployment):
        if steps is not None or layer_budget is not None or allow_step_mismatch:
            raise ValueError("steps, layer_budget and allow_step_mismatch are the Deployment's: set them in "
                             "generator.deployment(...)")
        deployment = generator
    else:  # the voice's settings checked once, before anything is written
        deployment = generator.deployment(steps, allow_step_mismatch=allow_step_mismatch, layer_budget=layer_budget,
                                          include_step=include_step)
    if include_step and "step" not in deployment.graphs:
        raise ValueError("include_step needs a Deployment made with include_step=True")
    steps = deployment.steps
    check_mel_settings_match(deployment.model_config, vocoder.cfg)
    tokenizer = deployment.tokenizer
    if deployment.has_text_normalizer:
        logging.warning("the generator has a text normaliser; the ONNX client does not run it: normalise text "
                        "before sending it")

    parent = os.path.dirname(out_dir)
    with path_lock(os.path.join(parent, f".{os.path.basename(out_dir)}.lock"), what="export"):
        if os.path.exists(out_dir) and not overwrite:  # again, under the lock: another export may have finished
            raise FileExistsError(f"{out_dir} exists: pass overwrite=True (--overwrite) to replace it")
        n_mels = deployment.n_mels
        spec = _tensor_specs(n_mels, deployment.cond_channels)
        tmp = os.path.join(parent, f".{os.path.basename(out_dir)}.tmp-{os.getpid()}")
        # under the lock no other export of out_dir runs: temporary folders found here are a killed export's
        for name in os.listdir(parent):
            if name.startswith(f".{os.path.basename(out_dir)}.tmp-"):
                logging.warning(f"removing {os.path.join(parent, name)}, left by an export that did not finish")
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        os.makedirs(tmp)
        try:
            models = {
                "frontend": _write_model(
                    tmp, "frontend", deployment.graphs["frontend"], [spec["tokens"]],
                    [spec["cond"], spec["coarse_mel"], spec["mel_lens"]], max_batch_size, serving),
                "sampler": _write_model(
                    tmp, "sampler", deployment.graphs["sampler"],
                    [spec["cond"], spec["coarse_mel"], spec["mel_lens"], spec["noise"]], [spec["mel"]], max_batch_size,
                    serving),
                "vocoder": _write_model(
                    tmp, "vocoder", _vocoder_export(vocoder, quantize_vocoder, deployment),
                    [spec["spec"]], [spec["audio"]], max_batch_size, serving),
            }
            if include_step:
                step_inputs = [_renamed(spec["mel"], "z_t"), ("log_snr", "TYPE_FP32", []), spec["cond"],
                               _renamed(spec["mel"], "prior"), ("mask", "TYPE_FP32", [1, -1])]
                models["denoiser_step"] = _write_model(
                    tmp, "denoiser_step", deployment.graphs["step"], step_inputs,
                    [_renamed(spec["mel"], "prediction")], max_batch_size, serving)
            steps_wiring = pipeline_steps()
            _write_config(tmp, ENSEMBLE, ensemble_config(
                ENSEMBLE, [_renamed(spec["tokens"], "TOKENS"), _renamed(spec["noise"], "NOISE")],
                [_renamed(spec["audio"], "AUDIO"), _renamed(spec["mel_lens"], "MEL_LENS")], steps_wiring, max_batch_size))
            if backend == "python":
                _write_text_models(tmp, spec, steps_wiring, max_batch_size, serving, {
                    "sample_rate": deployment.sample_rate, "hop_length": deployment.hop_length})
            with open(os.path.join(tmp, "tokenizer.json"), "w") as f:
                json.dump(tokenizer, f, indent=1)
            manifest = {
                "format": FORMAT,
                "ensemble": ENSEMBLE,
                "backend": backend,
                "text_models": ({"tokenizer": "tokenizer", "ensemble": TEXT_ENSEMBLE, "stream": STREAM}
                                if backend == "python" else None),
                "max_tokens": int(max_tokens),
                "pipeline": steps_wiring,
                "models": models,
                "tokenizer": "tokenizer.json",
                "sample_rate": deployment.sample_rate,
                "hop_length": deployment.hop_length,
                "n_mels": n_mels,
                # durations are clamped to this many frames per token: noise of L * this frames always covers T
                "max_frames_per_token": deployment.max_frames_per_token,
                "steps": steps,
                "sampler": deployment.sampler,
                "vocoder_quantization": quantize_vocoder and f"int8 {quantize_vocoder}",
                "layer_budget": deployment.layer_budget,
                "lineage": {
                    **{key: (value if isinstance(value, (int, float, str, bool)) or value is None else str(value))
                       for key, value in deployment.lineage.items()},
                    **{f"{name}_sha256": sha256_file(path) for name, path in (sources or {}).items()},
                    **{f"{name}_file": os.path.basename(path) for name, path in (sources or {}).items()},
                },
            }
            # what changes the speech is hashed: the tokenizer, and deploy.json's own content (its readers check both)
            manifest["tokenizer_sha256"] = sha256_file(os.path.join(tmp, "tokenizer.json"))
            manifest["manifest_sha256"] = manifest_digest(json.loads(json.dumps(manifest)))  # as readers load it
            write_json_atomic(os.path.join(tmp, "deploy.json"), manifest, indent=1)
            if os.path.exists(out_dir):
                old = f"{tmp}.old"
                os.rename(out_dir, old)
                os.rename(tmp, out_dir)
                shutil.rmtree(old)
            else:
                os.rename(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    logging.info(f"Triton model repository written to {out_dir} ({steps} sampling steps)")
    return out_dir
