#!/usr/bin/env python
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

"""Benchmark the exported voice behind a real Triton server: 1, 4 and 16 concurrent clients against the in-process
ONNX client, and streaming's time to first audio (:mod:`nemo_distill.eval.serving_benchmark`).

    python scripts/export.py STUDENT.nemo REPO --backend python
    python scripts/benchmark_serving.py REPO --manifest corpus/test_manifest.json --out-dir outputs/serving

Starts the server itself on free loopback ports (``--instances`` per model), or measures one already running
(``--http-url HOST:PORT --grpc-url HOST:PORT``, e.g. started by scripts/serve.py), sends ``--requests`` requests per
client (each level bounded by ``--time-limit`` seconds), and writes table.md, results.json and serving.png to
``--out-dir``. Texts: the manifest's (NeMo JSON lines, field ``text``), a text file's lines, or without either,
held-out generated sentences. Run it on a quiet machine: clients and server share the cores.
"""

import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", help="repository written by scripts/export.py --backend python")
    texts = parser.add_mutually_exclusive_group()
    texts.add_argument("--manifest", help="NeMo manifest whose texts are sent")
    texts.add_argument("--text-file", help="one text per line")
    parser.add_argument("--num-texts", type=int, default=20, help="texts used (the first N)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=8, help="requests per client at every level")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per level at most")
    parser.add_argument("--instances", type=int, default=None, help="instances of each model (default: the export's)")
    parser.add_argument("--http-url", help="measure a server already serving REPO (host:port; with --grpc-url)")
    parser.add_argument("--grpc-url", help="its gRPC address (host:port), for the streaming rows")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads of the in-process client")
    parser.add_argument("--stream-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default="outputs/serving_benchmark")
    args = parser.parse_args(argv)
    for name in ("num_texts", "requests", "stream_repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if (args.http_url is None) != (args.grpc_url is None):
        parser.error("--http-url and --grpc-url go together")
    if any(c < 1 for c in args.concurrency) or args.time_limit <= 0:
        parser.error("--concurrency values and --time-limit must be positive")
    return args


def read_texts(args):
    """The texts to send: the manifest's or the text file's (``nemo_distill.data.texts.read_texts``, which names a
    missing file or a bad line), or held-out generated sentences."""
    if args.manifest or args.text_file:
        from nemo_distill.data.texts import read_texts as read_text_source

        return read_text_source(args.manifest or args.text_file, limit=args.num_texts)
    from corpus_builders.sentences import generate_sentences

    return generate_sentences(args.num_texts, seed=20261202)  # a seed no corpus of the demos uses


def main(argv=None) -> int:
    args = parse_args(argv)
    if not os.path.isfile(os.path.join(args.repo, "deploy.json")):
        print(f"error: {args.repo}/deploy.json not found: export the voice with scripts/export.py --backend python",
              file=sys.stderr)
        return 2
    from nemo_distill.eval.serving_benchmark import format_serving_table, plot_serving, run_serving_benchmark
    from nemo_distill.runtime.triton_server import ServerError
    from nemo_distill.utils.files import write_json_atomic, write_text_atomic
    from nemo_distill.utils.locks import FolderLockedError, folder_lock

    try:
        texts = read_texts(args)
        paragraph = " ".join(texts[:5])
        with folder_lock(args.out_dir, what="benchmark_serving"):
            results = run_serving_benchmark(
                args.repo, texts, paragraph, concurrency=args.concurrency, requests_per_client=args.requests,
                time_limit=args.time_limit, instances=args.instances, threads=args.threads,
                stream_repeats=args.stream_repeats, seed=args.seed,
                urls={"http": args.http_url, "grpc": args.grpc_url} if args.http_url else None)
            table = format_serving_table(results)
            write_text_atomic(os.path.join(args.out_dir, "table.md"), table + "\n")
            write_json_atomic(os.path.join(args.out_dir, "results.json"),
                              {**results, "repo": os.path.abspath(args.repo), "paragraph": paragraph}, indent=1)
            plot_serving(results, os.path.join(args.out_dir, "serving.png"))
    except (ServerError, ValueError, FileNotFoundError, FolderLockedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table)
    print(f"wrote {args.out_dir}/table.md, results.json, serving.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
