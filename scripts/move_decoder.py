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

"""A trained diffusion decoder on another FastPitch's front-end: a new voice whose front-end is ``--fastpitch`` (e.g.
the same FastPitch trained on for longer) and whose decoder is ``--teacher``'s, unchanged.

    python scripts/move_decoder.py --teacher outputs/teacher_curves/wide/35min.nemo \
        --fastpitch outputs/teacher_curves/fastpitch/35min.nemo --out outputs/teacher_split/moved.nemo

The decoder was trained on the frozen front-end it came with; the FastPitch is checked as ``+init_from_nemo_model``
checks one (a FastPitch, this voice's mel settings, weights covering the whole front-end). The new ``.nemo`` gets an
integrity record and never replaces a file (refused before any work)."""

import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="a DiffusionSpectrogramGenerator .nemo: its decoder")
    parser.add_argument("--fastpitch", required=True, help="a FastPitch .nemo: the new front-end")
    parser.add_argument("--out", required=True, help="the new voice's .nemo (must not exist)")
    args = parser.parse_args(argv)
    for path in (args.teacher, args.fastpitch):
        if not os.path.isfile(path):
            parser.error(f"{path} does not exist")
    if os.path.exists(args.out):
        parser.error(f"{args.out} exists: it is left as it is (give another --out)")
    if not args.out.endswith(".nemo"):
        parser.error(f"--out must end in .nemo, got {args.out}")
    return args


def move_decoder(teacher_path: str, fastpitch_path: str, out: str):
    """Writes ``out``: ``teacher_path``'s voice with the front-end weights of ``fastpitch_path``; returns the model."""
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.restore import restore_model
    from nemo_distill.utils.files import atomic_path

    voice = restore_model(teacher_path, DiffusionSpectrogramGenerator)
    fastpitch = voice.check_frontend_source(fastpitch_path)  # ValueError naming what does not fit
    voice.load_state_dict({**voice.state_dict(), **fastpitch.state_dict()}, strict=True)
    with atomic_path(out, overwrite=False) as tmp:
        voice.save_to(tmp)
    return voice


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        move_decoder(args.teacher, args.fastpitch, args.out)
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(f"wrote {args.out}: the decoder of {args.teacher} on the front-end of {args.fastpitch}")


if __name__ == "__main__":
    main()
