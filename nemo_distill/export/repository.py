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
      vocoder/            mel -> audio [B, 1, T * hop]                         (NeMo's HifiGanModel export)
      tts/                the ensemble wiring the three (inputs TOKENS, NOISE; outputs AUDIO, MEL_LENS)
      denoiser_step/      one denoiser call, with ``include_step`` (for runtimes that drive the loop)
      tokenizer.json      the character tokenizer the client applies (:mod:`~nemo_distill.export.tokenizer_spec`)
      deploy.json         the pipeline (same wiring as the ensemble), audio/mel settings, model hashes, lineage

The repository is built in a temporary sibling folder and moved into place in one rename, so an interrupted
export leaves no half-written repository; an existing ``OUT_DIR`` is refused unless ``overwrite``, and even then
it is only removed after the new one is complete.
"""

import json
import os
import shutil
from typing import Dict, Optional

from nemo.utils import logging
from nemo_distill.parts.tokenizer_spec import tokenizer_spec
from nemo_distill.export.triton_config import ensemble_config, onnx_model_config, to_pbtxt
from nemo_distill.parts.mel_settings import check_mel_settings_match
from nemo_distill.utils.files import sha256_file, write_json_atomic
from nemo_distill.utils.locks import path_lock

__all__ = ["FORMAT", "export_triton_repository", "pipeline_steps"]

FORMAT = "nemo_distill.triton_repository/1"
ENSEMBLE = "tts"


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


def _write_model(root: str, name: str, export_fn, inputs, outputs, max_batch_size: int) -> Dict:
    folder = os.path.join(root, name)
    os.makedirs(os.path.join(folder, "1"))
    onnx_path = os.path.join(folder, "1", "model.onnx")
    export_fn(onnx_path)
    with open(os.path.join(folder, "config.pbtxt"), "w") as f:
        f.write(to_pbtxt(onnx_model_config(name, inputs, outputs, max_batch_size)))
    return {"file": os.path.relpath(onnx_path, root), "sha256": sha256_file(onnx_path),
            "bytes": os.path.getsize(onnx_path)}


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
) -> str:
    """Write the repository for ``generator`` (a ``DiffusionSpectrogramGenerator``) and ``vocoder`` (a
    ``HifiGanModel`` with the same mel settings) to ``out_dir``; returns ``out_dir``.

    Every check runs before anything is written: an existing ``out_dir`` without ``overwrite``, the step count
    (:func:`~nemo_distill.parts.export_graphs.export_sampler_steps`), the vocoder's mel settings, the tokenizer.
    ``sources`` (``{"generator": path, "vocoder": path}``) are hashed into ``deploy.json``. NeMo's HiFi-GAN export
    removes the vocoder's weight norm in place (same outputs).
    """
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} exists: pass overwrite=True (--overwrite) to replace it (it is only "
                              "removed once the new repository is complete)")
    if vocoder is None:
        raise ValueError("a vocoder is needed: the ensemble turns text into audio (export a HiFi-GAN .nemo trained "
                         "with the generator's mel settings)")
    sampler_graph = generator.export_graph("sampler", steps, allow_step_mismatch=allow_step_mismatch)  # checked once
    steps = sampler_graph.steps
    check_mel_settings_match(generator.cfg, vocoder.cfg)
    tokenizer = tokenizer_spec(generator.vocab)
    if generator.text_normalizer_call is not None:
        logging.warning("the generator has a text normaliser; the ONNX client does not run it: normalise text "
                        "before sending it")

    parent = os.path.dirname(out_dir)
    with path_lock(os.path.join(parent, f".{os.path.basename(out_dir)}.lock"), what="export"):
        if os.path.exists(out_dir) and not overwrite:  # again, under the lock: another export may have finished
            raise FileExistsError(f"{out_dir} exists: pass overwrite=True (--overwrite) to replace it")
        n_mels = int(generator.cfg.n_mel_channels)
        cond_channels = generator.decoder.cond_channels
        spec = _tensor_specs(n_mels, cond_channels)
        tmp = os.path.join(parent, f".{os.path.basename(out_dir)}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        try:
            models = {
                "frontend": _write_model(
                    tmp, "frontend", lambda p: generator.export(p, form="frontend"), [spec["tokens"]],
                    [spec["cond"], spec["coarse_mel"], spec["mel_lens"]], max_batch_size),
                "sampler": _write_model(
                    tmp, "sampler",
                    lambda p: generator.export(p, graph=sampler_graph),
                    [spec["cond"], spec["coarse_mel"], spec["mel_lens"], spec["noise"]], [spec["mel"]], max_batch_size),
                "vocoder": _write_model(
                    tmp, "vocoder", lambda p: vocoder.export(p), [spec["spec"]], [spec["audio"]], max_batch_size),
            }
            if include_step:
                step_inputs = [_renamed(spec["mel"], "z_t"), ("log_snr", "TYPE_FP32", []), spec["cond"],
                               _renamed(spec["mel"], "prior"), ("mask", "TYPE_FP32", [1, -1])]
                models["denoiser_step"] = _write_model(
                    tmp, "denoiser_step", lambda p: generator.export(p, form="step"), step_inputs,
                    [_renamed(spec["mel"], "prediction")], max_batch_size)
            steps_wiring = pipeline_steps()
            os.makedirs(os.path.join(tmp, ENSEMBLE, "1"))  # Triton wants a version folder, empty for an ensemble
            ensemble = ensemble_config(
                ENSEMBLE, [_renamed(spec["tokens"], "TOKENS"), _renamed(spec["noise"], "NOISE")],
                [_renamed(spec["audio"], "AUDIO"), _renamed(spec["mel_lens"], "MEL_LENS")], steps_wiring, max_batch_size)
            with open(os.path.join(tmp, ENSEMBLE, "config.pbtxt"), "w") as f:
                f.write(to_pbtxt(ensemble))
            with open(os.path.join(tmp, "tokenizer.json"), "w") as f:
                json.dump(tokenizer, f, indent=1)
            preprocessor = generator.cfg.preprocessor
            distillation = generator.cfg.get("distillation") or {}
            manifest = {
                "format": FORMAT,
                "ensemble": ENSEMBLE,
                "pipeline": steps_wiring,
                "models": models,
                "tokenizer": "tokenizer.json",
                "sample_rate": int(generator.cfg.sample_rate),
                "hop_length": int(preprocessor.n_window_stride),
                "n_mels": n_mels,
                # durations are clamped to this many frames per token: noise of L * this frames always covers T
                "max_frames_per_token": int(generator.fastpitch.max_token_duration),
                "steps": steps,
                "sampler": generator.settings.sampler,
                "lineage": {
                    "class": type(generator).__name__,
                    "distilled": bool(distillation),
                    **{key: (value if isinstance(value, (int, float, str, bool)) or value is None else str(value))
                       for key, value in dict(distillation).items()},
                    **{f"{name}_sha256": sha256_file(path) for name, path in (sources or {}).items()},
                    **{f"{name}_file": os.path.basename(path) for name, path in (sources or {}).items()},
                },
            }
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
