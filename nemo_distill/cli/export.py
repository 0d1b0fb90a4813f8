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

    python scripts/export.py STUDENT.nemo OUT_DIR --vocoder HIFIGAN.nemo
    python scripts/export.py TEACHER.nemo OUT_DIR --vocoder HIFIGAN.nemo --steps 32   # a teacher needs --steps
    nemo-distill-export STUDENT.nemo OUT_DIR --vocoder HIFIGAN.nemo    # installed by pip (or python -m nemo_distill.cli.export)

Writes ``frontend/``, ``sampler/`` (the K-step sampler unrolled), ``vocoder/`` and the ``tts`` ensemble, each with
``config.pbtxt`` and ``1/model.onnx``, plus ``tokenizer.json`` and ``deploy.json`` (pipeline, settings, hashes,
lineage); see :mod:`nemo_distill.export.repository`. Run it with ``nemo-distill-infer-onnx OUT_DIR "text" out.wav``
(no torch needed) or point ``tritonserver --model-repository`` at it.

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
    parser.add_argument("--vocoder", required=True, help="HiFi-GAN .nemo trained with the generator's mel settings")
    parser.add_argument("--steps", type=int, default=None,
                        help="sampling steps to unroll (default: the distilled student's own; required for a teacher)")
    parser.add_argument("--allow-step-mismatch", action="store_true",
                        help="export a student at a step count other than the one it was distilled for")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT_DIR")
    parser.add_argument("--max-batch-size", type=int, default=8, help="Triton max_batch_size of every model")
    parser.add_argument("--include-step", action="store_true",
                        help="also export the single denoiser step (denoiser_step/) for runtimes driving the loop")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if os.path.exists(args.out_dir) and not args.overwrite:  # refuse before the (slow) restores
        print(f"error: {args.out_dir} exists: pass --overwrite to replace it", file=sys.stderr)
        return 2
    for path in (args.model, args.vocoder):
        if not os.path.isfile(path):
            print(f"error: {path} not found", file=sys.stderr)
            return 2
    # NeMo takes seconds to import: only once the arguments are checked
    from nemo.collections.tts.models import HifiGanModel
    from nemo_distill.export.repository import export_triton_repository
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.restore import restore_model

    try:
        generator = DiffusionSpectrogramGenerator.from_nemo(args.model)
        vocoder = restore_model(args.vocoder, HifiGanModel)
        export_triton_repository(
            generator, args.out_dir, vocoder=vocoder, steps=args.steps, allow_step_mismatch=args.allow_step_mismatch,
            overwrite=args.overwrite, max_batch_size=args.max_batch_size, include_step=args.include_step,
            sources={"generator": args.model, "vocoder": args.vocoder},
        )
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
