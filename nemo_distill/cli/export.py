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

"""Export a diffusion voice as a Riva/Triton-style model repository of ONNX graphs.

    python scripts/export.py STUDENT.nemo OUT_DIR                          # the pretrained HiFi-GAN
    python scripts/export.py STUDENT.nemo OUT_DIR --vocoder HIFIGAN.nemo   # a HiFi-GAN of your own
    python scripts/export.py TEACHER.nemo OUT_DIR --steps 32               # a teacher needs --steps
    nemo-distill-export STUDENT.nemo OUT_DIR    # installed by pip (or python -m nemo_distill.cli.export)

Writes ``frontend/``, ``sampler/`` (the K-step sampler unrolled), ``vocoder/`` and the ``tts`` ensemble, each with
``config.pbtxt`` and ``1/model.onnx`` (the vocoder graph through NeMo's ``Exportable``; ``--quantize-vocoder``
stores it as int8: ``dynamic`` or ``static``, :mod:`nemo_distill.export.quantize`), plus ``tokenizer.json`` and
``deploy.json`` (pipeline, settings, hashes, lineage); see :mod:`nemo_distill.export.repository`. Run it with
``nemo-distill-infer-onnx OUT_DIR "text" out.wav`` (no torch needed), or serve it: ``--backend onnxruntime`` (the default) for a Triton/Riva with the onnxruntime
backend, ``--backend python`` for ``scripts/serve.py`` (the Triton server of the ``nvidia-pytriton`` wheel, which
has only the Python backend), queried with ``scripts/infer_triton.py``.

K defaults to a distilled student's own step count; another K is refused unless ``--allow-step-mismatch``. An
existing OUT_DIR is refused unless ``--overwrite`` (the old one is removed only once the new one is complete).
"""

import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="DiffusionSpectrogramGenerator .nemo (a distilled student or a teacher)")
    parser.add_argument("out_dir", help="model repository to write")
    parser.add_argument("--vocoder", default="pretrained",
                        help="pretrained (default: the pretrained HiFi-GAN), pretrained:ljspeech, or a HiFi-GAN .nemo "
                             "trained with the generator's mel settings")
    parser.add_argument("--quantize-vocoder", choices=["dynamic", "static"], default=None,
                        help="store the vocoder graph as int8 (onnxruntime's quantiser; static: calibrated on the "
                             "generator's mels of a few sentences)")
    parser.add_argument("--steps", type=int, default=None,
                        help="sampling steps to unroll (default: the distilled student's own; required for a teacher)")
    parser.add_argument("--allow-step-mismatch", action="store_true",
                        help="export a student at a step count other than the one it was distilled for")
    parser.add_argument("--layer-budget", type=int, default=None,
                        help="residual blocks per denoiser call in the sampler graph (default: the model's "
                             "diffusion.layer_budget, or all); the graph holds only those blocks")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT_DIR")
    parser.add_argument("--max-batch-size", type=int, default=8, help="Triton max_batch_size of every model")
    parser.add_argument("--include-step", action="store_true",
                        help="also export the single denoiser step (denoiser_step/) for runtimes driving the loop")
    serving = parser.add_argument_group("serving")
    serving.add_argument("--backend", choices=["onnxruntime", "python"], default="onnxruntime",
                         help="Triton backend of the graphs: onnxruntime (production Triton/Riva) or python (the "
                              "Python backend, e.g. the server scripts/serve.py starts; adds the text and "
                              "streaming models)")
    serving.add_argument("--instances", type=int, default=1, help="CPU instances of each model (instance_group)")
    serving.add_argument("--no-dynamic-batching", dest="dynamic_batching", action="store_false",
                         help="do not let Triton join concurrent requests into one batch")
    serving.add_argument("--max-queue-delay-us", type=int, default=2000,
                         help="how long the dynamic batcher waits for more requests")
    serving.add_argument("--threads", type=int, default=1, help="onnxruntime threads per Python-backend instance")
    serving.add_argument("--max-tokens", type=int, default=1024, help="longest token sequence a request may hold")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if os.path.exists(args.out_dir) and not args.overwrite:  # refuse before the (slow) restores
        print(f"error: {args.out_dir} exists: pass --overwrite to replace it", file=sys.stderr)
        return 2
    for path in (args.model, *([] if args.vocoder.split(":")[0] == "pretrained" else [args.vocoder])):
        if not os.path.isfile(path):
            print(f"error: {path} not found", file=sys.stderr)
            return 2
    # NeMo takes seconds to import: only once the arguments are checked
    from nemo_distill.export.repository import export_triton_repository
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.vocoder import load_vocoder, resolve_vocoder

    try:
        generator = DiffusionSpectrogramGenerator.from_nemo(args.model)
        vocoder_path = resolve_vocoder(args.vocoder, generator.cfg)
        vocoder = load_vocoder(vocoder_path, generator.cfg)
        export_triton_repository(
            generator, args.out_dir, vocoder=vocoder, steps=args.steps, allow_step_mismatch=args.allow_step_mismatch,
            overwrite=args.overwrite, max_batch_size=args.max_batch_size, include_step=args.include_step,
            sources={"generator": args.model, "vocoder": vocoder_path}, backend=args.backend,
            instances=args.instances, dynamic_batching=args.dynamic_batching,
            max_queue_delay_us=args.max_queue_delay_us, threads=args.threads, max_tokens=args.max_tokens,
            layer_budget=args.layer_budget, quantize_vocoder=args.quantize_vocoder,
        )
    except (ValueError, TypeError, FileExistsError, FileNotFoundError, ModuleNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # disk full, permissions: one line (the repository is renamed into place only whole)
        written = error.filename2 or error.filename or "writing the repository"
        print(f"error: {args.out_dir}: {error.strerror or error} ({written})", file=sys.stderr)
        return 2
    print(f"wrote {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
