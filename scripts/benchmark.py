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

"""Benchmark a DiffusionSpectrogramGenerator: diffusion decoder at several samplers and step counts, against its
own FastPitch decoder, an optional plain FastPitch, and the recordings.

    python scripts/benchmark.py MODEL.nemo --manifest corpus/test_manifest.json --sup-data-path corpus/sup_data \
        --steps 256 64 16 4 --samplers ddim dpmpp_2m [--fastpitch FASTPITCH.nemo] [--vocoder HIFIGAN.nemo] \
        [--griffin-lim] --out-dir outputs/benchmark

Rows: ``recording`` (the recogniser's WER ceiling), ``recording_mel`` (the recording's mel through each vocoder:
the vocoder's ceiling), ``fastpitch`` (a separately trained NeMo FastPitch, with ``--fastpitch``), ``coarse`` (the
generator's own FastPitch decoder, no diffusion), ``<sampler>_<steps>`` (the diffusion decoder). Columns: denoiser
calls per utterance (counted), mel L1 to the recording and Frechet distance of mel-frame statistics (both with
ground-truth durations), WER of the vocoded audio by Whisper tiny.en for each vocoder (``--vocoder``: by default the
pretrained HiFi-GAN, :mod:`nemo_distill.parts.vocoder`; ``--griffin-lim`` adds Griffin-Lim's columns beside it;
needs ``pip install -e .[eval]``), DNSMOS SIG/BAK/OVRL/P.808 of the same audio (``speechmos``,
in the same extra; the recording row is the judge's calibration), ms per utterance and real-time factor of mel
synthesis.
Writes table.md, table.csv, results.json, benchmark.png and example wavs (audio/) to ``--out-dir``.

Distillation report (``--students S1.nemo S2.nemo ... --teacher-steps N``, students made by scripts/distill.py from
MODEL): for every step count k of the students, rows on the same texts and noise: ``teacher_N`` (full steps),
``naive_k`` (the teacher sampled with k DDIM steps) and each student of k steps by its stage (``student_k``:
progressive, ``dmd_k``, ``consistency_k``); the calibration rows ``recording`` and ``recording_mel``; the column
"L1 to reference" is the mel L1 to the full-step teacher's output from the same noise; ``--diversity-seeds 4`` adds
the diversity column (mean pairwise mel L1 between 4 seeds of each sentence). The plot (distillation.png) draws
quality vs steps for the teacher, naive sampling and the students (DMD and consistency as markers), with plain
FastPitch (``--fastpitch``) and the recordings' mels as reference lines.

Layer report (``--layer-budgets 6 4 3 ...``, with ``--teacher-steps N`` and optional ``--students``): the teacher at
N steps (the reference), then the teacher at its default steps and every student, each at full depth and at every
budget (residual blocks per denoiser call; a model that was not layer-distilled just skips blocks, a layer student
made by ``scripts/distill.py layers.budgets=[...]`` was trained to); extra columns: blocks, MACs per call and per
utterance (FlopCounterMode, 200 frames), ms per call (interleaved timing), mel L1 to the full-depth model from the
same noise. Writes layers_table.md, results.json and layers.png (quality against MACs per utterance).

Deployment report (``--deploy REPO --students STUDENT.nemo [--fastpitch FASTPITCH.nemo]``, REPO written by
scripts/export.py from STUDENT): text -> mel -> HiFi-GAN audio for ``teacher_N`` (PyTorch), ``student_k``
(PyTorch), ``student_k`` through onnxruntime (the repository, no torch) and plain FastPitch + the same HiFi-GAN
(PyTorch, with ``--fastpitch``), each alone in a fresh process, on the manifest's texts: ms per utterance of the
front-end, the sampler and the vocoder apart, the text-to-audio real-time factor, load time, model file sizes,
peak memory, and the ONNX mels' largest difference to PyTorch's. The PyTorch rows' vocoder is ``--vocoder``
(default: the pretrained HiFi-GAN); the ONNX row's is the repository's. Writes deploy_table.md, deploy_results.json
and deploy.png.
"""

import argparse
import json
import os

import torch
from omegaconf import open_dict
from tqdm import tqdm

from nemo_distill.eval.layer_benchmark import (
    denoiser_call_costs,
    format_layer_table,
    format_variance_table,
    layer_systems,
    plot_layer_tradeoff,
    skip_stream_variance,
)
from nemo_distill.eval.tts_benchmark import (
    default_systems,
    distillation_systems,
    format_table,
    plot_distillation,
    plot_results,
    run_benchmark,
    write_csv,
)
from nemo_distill.models import DiffusionSpectrogramGenerator
from nemo_distill.parts.mel_settings import check_mel_settings_match
from nemo_distill.parts.restore import restore_model
from nemo_distill.parts.vocoder import (GRIFFIN_LIM, PRETRAINED, load_vocoder, resolve_vocoder,
                                         vocoder_function)


def _load_manifest(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a DiffusionSpectrogramGenerator .nemo")
    parser.add_argument("--manifest", required=True, help="held-out NeMo manifest (audio_filepath, text)")
    parser.add_argument("--sup-data-path", help="pitch/alignment-prior cache folder of the corpus (not for --deploy)")
    parser.add_argument("--steps", type=int, nargs="+", default=[256, 64, 16, 4])
    parser.add_argument("--samplers", nargs="+", default=["ddim", "dpmpp_2m"])
    parser.add_argument("--fastpitch", help="a plain NeMo FastPitch .nemo trained on the same corpus (reference row)")
    parser.add_argument("--vocoder", default=PRETRAINED,
                        help="pretrained (default: the pretrained HiFi-GAN), pretrained:ljspeech, or a HiFi-GAN .nemo "
                             "with the generator's mel settings")
    parser.add_argument("--griffin-lim", action="store_true",
                        help="also vocode every row with Griffin-Lim (its WER and DNSMOS columns beside HiFi-GAN's)")
    parser.add_argument("--out-dir", default="outputs/benchmark")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-wer", action="store_true", help="skip the recogniser (no WER columns)")
    parser.add_argument("--no-dnsmos", action="store_true",
                        help="skip the perceptual judge (the DNSMOS SIG/BAK/OVRL/P.808 columns; they need speechmos)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-utterances", type=int, default=0, help="use the first N manifest rows (0: all)")
    parser.add_argument("--t-start", type=float, default=None,
                        help="< 1: shallow diffusion from the noised coarse mel (default: the model's diffusion.t_start)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="scale of the starting noise (default: the model's diffusion.temperature)")
    parser.add_argument("--students", nargs="+", default=[],
                        help="distilled students of MODEL (scripts/distill.py): the distillation report")
    parser.add_argument("--teacher-steps", type=int, default=256, help="the teacher's full step count (report)")
    parser.add_argument("--coarse", action="store_true",
                        help="with --students: add the teacher's own front-end's coarse mel as a row (no diffusion)")
    parser.add_argument("--layer-budgets", type=int, nargs="+", default=[],
                        help="the layer report: every model also at these residual-block budgets")
    parser.add_argument("--diversity-seeds", type=int, default=0,
                        help=">= 2: every diffusion row also with this many seeds (teacher-forced), the diversity "
                             "column: mean pairwise mel L1 between the renditions of a sentence")
    parser.add_argument("--deploy", metavar="REPO",
                        help="deployment report: a repository scripts/export.py wrote from the one --students model")
    args = parser.parse_args(argv)
    if args.deploy and len(args.students) != 1:
        parser.error("--deploy needs exactly one --students model (the one exported to REPO)")
    if args.vocoder == GRIFFIN_LIM:
        parser.error("--vocoder griffin-lim: Griffin-Lim is --griffin-lim, beside a HiFi-GAN")
    if not args.deploy and not args.sup_data_path:
        parser.error("--sup-data-path is required (ground-truth durations for mel L1 and FD)")
    return args


def _load_students(paths, teacher_path):
    """Students of ``teacher_path`` by key (their path), with their step counts; refuses another lineage."""
    from nemo_distill.utils.files import sha256_file

    teacher_sha256 = sha256_file(teacher_path)
    students, steps = {}, {}
    for path in paths:
        student = DiffusionSpectrogramGenerator.from_nemo(path).eval()
        origin = student.cfg.get("distillation", {}).get("origin_teacher_sha256")
        if origin != teacher_sha256:
            raise ValueError(f"{path} was not distilled from {teacher_path} (its origin teacher sha256 is {origin})")
        students[path], steps[path] = student, int(student.cfg.diffusion.default_steps)
    return students, steps


def _method_rows(students):
    """Each student's row name (its distillation method's, nemo_distill.distillation.methods) and the students a
    benchmark also samples at twice their steps."""
    from nemo_distill.distillation.methods import method_of_student

    methods = {path: method_of_student(student.cfg) for path, student in students.items()}
    return ({path: method.row_of(students[path].cfg) for path, method in methods.items()},
            [path for path, method in methods.items() if method.also_at_twice_steps])


def _loader(model, manifest, sup_data_path):
    cfg = model.cfg.validation_ds.copy()
    with open_dict(cfg):
        cfg.dataset.manifest_filepath = manifest
        cfg.dataset.sup_data_path = sup_data_path
        cfg.dataloader_params.batch_size = 4
        cfg.dataloader_params.shuffle = False
        cfg.dataloader_params.num_workers = 0
    model.setup_validation_data(cfg)
    return model._validation_dl


def deploy_main(args):
    from nemo_distill.eval.deploy_benchmark import format_deploy_table, plot_deploy, run_deploy_benchmark
    from nemo_distill.utils.files import sha256_file

    (student,) = args.students
    try:
        students, _ = _load_students([student], args.model)
        if args.fastpitch:
            _load_fastpitch(args.fastpitch, students[student])
        vocoder = resolve_vocoder(args.vocoder, students[student].cfg)
        load_vocoder(vocoder, students[student].cfg)  # a vocoder that does not fit fails here, not in a worker
        with open(os.path.join(args.deploy, "deploy.json")) as f:
            exported = json.load(f)["lineage"].get("generator_sha256")
    except (TypeError, ValueError, OSError, ModuleNotFoundError) as error:
        raise SystemExit(f"error: {error}")
    if exported != sha256_file(student):
        raise SystemExit(f"error: {args.deploy} was not exported from {student} (its generator sha256 is {exported})")
    rows = _load_manifest(args.manifest)[: args.max_utterances or None]
    results = run_deploy_benchmark(args.model, student, vocoder, args.deploy, [row["text"] for row in rows],
                                   args.out_dir, args.teacher_steps, threads=args.threads, seed=args.seed,
                                   fastpitch=args.fastpitch)
    caption = (f"{len(rows)} utterances from {args.manifest}, batch 1, one warm-up utterance; {args.threads} "
               "thread(s) (torch.set_num_threads / onnxruntime intra-op); each system alone in a fresh process; "
               f"same tokens and noise; vocoder: HiFi-GAN (PyTorch rows: {os.path.basename(vocoder)}; ONNX rows: the "
               "repository's graph); front-end = FastPitch (text to its own mel and the decoder's conditioning), "
               "sampler = the diffusion decoder; RTF = (front-end + sampler + vocoder time) / audio duration; peak "
               "RSS = VmHWM of the process")
    table = format_deploy_table(results, caption)
    print(table)
    with open(os.path.join(args.out_dir, "deploy_table.md"), "w") as f:
        f.write(table + "\n")
    plot_deploy(results, os.path.join(args.out_dir, "deploy.png"))
    return results


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.deploy:
        return deploy_main(args)
    try:
        model = DiffusionSpectrogramGenerator.from_nemo(args.model).eval()
        fastpitch = _load_fastpitch(args.fastpitch, model) if args.fastpitch else None
        vocoders = dict([vocoder_function(args.vocoder, model.cfg)])
        if args.griffin_lim:
            vocoders.update([vocoder_function(GRIFFIN_LIM, model.cfg)])
        students, student_steps = _load_students(args.students, args.model) if args.students else ({}, {})
    except (TypeError, ValueError, FileNotFoundError, ModuleNotFoundError) as error:
        raise SystemExit(f"error: {error}")

    rows = _load_manifest(args.manifest)
    if args.max_utterances:
        rows = rows[: args.max_utterances]
        manifest = os.path.join(args.out_dir, "manifest.json")
        os.makedirs(args.out_dir, exist_ok=True)
        with open(manifest, "w") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)
    else:
        manifest = args.manifest
    dataloader = _loader(model, manifest, args.sup_data_path)
    if fastpitch is not None:
        fastpitch_loader = _loader(fastpitch, manifest, args.sup_data_path)
        assert len(fastpitch_loader.dataset) == len(dataloader.dataset)
    judge = None
    if not args.no_wer:
        from nemo_distill.eval.tts_metrics import WhisperJudge

        judge = WhisperJudge()
    perceptual_judge = None
    if not args.no_dnsmos:
        from nemo_distill.eval.tts_metrics import DnsmosJudge

        try:
            perceptual_judge = DnsmosJudge()
        except ImportError as error:  # optional, like WER: the columns are left out
            print(f"benchmark.py: no DNSMOS columns ({error})")

    def load_audio(path):
        import librosa

        return librosa.load(path, sr=model.cfg.sample_rate)[0]

    reference = None
    if args.layer_budgets:
        systems, layer_models = _layer_report_systems(args, model, students, fastpitch is not None)
        reference = f"teacher_{args.teacher_steps}"
    elif students:
        method_rows, twice = _method_rows(students)
        systems = distillation_systems(args.teacher_steps, student_steps, with_fastpitch=fastpitch is not None,
                                       rows=method_rows, twice=twice, with_coarse=args.coarse)
        reference = f"teacher_{args.teacher_steps}"
    else:
        systems = default_systems(args.steps, args.samplers, with_fastpitch=fastpitch is not None)
    results = run_benchmark(
        model, dataloader, rows, systems, vocoders, judge=judge, fastpitch=fastpitch, seed=args.seed,
        t_start=args.t_start, temperature=args.temperature, audio_dir=os.path.join(args.out_dir, "audio"),
        load_audio=load_audio,
        progress=lambda iterable, **kw: tqdm(iterable, **kw), models=students, reference=reference,
        perceptual_judge=perceptual_judge, diversity_seeds=args.diversity_seeds,
    )
    caption = (
        f"{len(rows)} utterances from {args.manifest}; t_start {args.t_start or 'model default'}; temperature "
        f"{args.temperature or model.cfg.diffusion.get('temperature', 1.0)}; torch threads "
        f"{args.threads}; mel L1 and FD with ground-truth durations; WER of vocoded audio by Whisper tiny.en; "
        f"{'DNSMOS (speechmos) of the vocoded audio; ' if perceptual_judge is not None else ''}"
        "ms/utt and RTF of mel synthesis (vocoder excluded)"
        + (f"; diversity: mean pairwise mel L1 between {args.diversity_seeds} seeds of each sentence (GT durations)"
           if args.diversity_seeds >= 2 else "")
    )
    if args.layer_budgets:
        _add_call_costs(results, systems, layer_models)
        variance_table = _variance_table(args, model, dataloader, systems, layer_models)
        caption += ("; MACs and ms per denoiser call on a 200-frame utterance (batch 1), MACs / utt = calls x MACs "
                    "per call; L1 to full depth: mel L1 to the same model (a layer student: the model it was "
                    "distilled from) at full depth, same noise")
        table = format_layer_table(results, caption)
    else:
        table = format_table(results, caption)
    print(table)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "layers_table.md" if args.layer_budgets else "table.md"), "w") as f:
        f.write(table + "\n")
    if args.layer_budgets:
        print(variance_table)
        with open(os.path.join(args.out_dir, "variance_table.md"), "w") as f:
            f.write(variance_table + "\n")
    write_csv(results, os.path.join(args.out_dir, "table.csv"))
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump({"model": args.model, "manifest": args.manifest, "fastpitch": args.fastpitch,
                   "vocoder": args.vocoder, "results": results}, f, indent=2)
    if args.layer_budgets:
        plot_layer_tradeoff(results, os.path.join(args.out_dir, "layers.png"))
    elif students:
        plot_distillation(results, os.path.join(args.out_dir, "distillation.png"))
    else:
        plot_results(results, os.path.join(args.out_dir, "benchmark.png"))
    return results


def _layer_report_systems(args, model, students, with_fastpitch):
    """The layer report's rows, and ``name -> (key, decoder)`` of every model in it."""
    from nemo_distill.distillation.methods import method_of_student
    from nemo_distill.utils.files import sha256_file

    budgets = [b for b in args.layer_budgets]
    for generator in [model, *students.values()]:
        for budget in budgets:  # a budget the network cannot run fails before any work
            generator.decoder.check_layer_budget(budget)
    entries = [{"name": "teacher", "key": None, "steps": int(model.cfg.diffusion.default_steps),
                "num_blocks": model.decoder.num_blocks, "sha256": sha256_file(args.model)}]
    for path, student in students.items():
        distillation = student.cfg.distillation
        name = "student"
        if distillation.get("layer_budgets"):  # a layer student: <row> (calibrated skip scales), <row>_sqrt, _none
            rescale = distillation.get("layer_rescale", "calibrated")
            name = method_of_student(student.cfg).benchmark_row + ("" if rescale == "calibrated" else f"_{rescale}")
        entries.append({"name": name, "key": path, "layered": bool(distillation.get("layer_budgets")),
                        "steps": int(student.cfg.diffusion.default_steps), "num_blocks": student.decoder.num_blocks,
                        "sha256": sha256_file(path), "teacher_sha256": distillation.get("teacher_sha256")})
    by_sha = {entry["sha256"]: entry for entry in entries}
    for entry in entries:  # a layer student's budgets are compared with the model it was distilled from
        base = by_sha.get(entry.get("teacher_sha256")) if entry.get("layered") else None
        entry["full_depth_of"] = base["name"] if base is not None and base["steps"] == entry["steps"] else None
    names = [f"{e['name']}_{e['steps']}" for e in entries]
    if len(set(names)) != len(names):
        raise SystemExit(f"error: two models would share a row name ({names}): pass one student per (kind, steps)")
    systems = layer_systems(args.teacher_steps, entries, budgets, with_fastpitch)
    decoders = {e["key"]: (model if e["key"] is None else students[e["key"]]).decoder for e in entries}
    return systems, decoders


def _variance_table(args, model, dataloader, systems, decoders):
    """What the output layer reads at each budget, as a fraction of the full depth's variance, for every model, on
    the first teacher-forced batch (recorded mels noised at each model's sampling grid)."""
    from nemo_distill.eval.tts_metrics import teacher_forced_batches

    cond, coarse, mel, lengths = next(iter(teacher_forced_batches(model, dataloader)))
    variances = {}
    for key, decoder in decoders.items():  # each model's full-depth row names it and gives its steps
        row = next(s for s in systems if s.model == key and s.layer_budget == decoder.num_blocks)
        budgets = [b for b in args.layer_budgets if b < decoder.num_blocks]
        variances[row.name] = skip_stream_variance(decoder, cond, coarse, mel, lengths, budgets, row.steps,
                                                   seed=args.seed)
    caption = (f"Output layer's input: mean square over valid frames and channels, {mel.shape[0]} teacher-forced "
               "utterances noised at each model's sampling grid, as a fraction of the same model at full depth")
    return format_variance_table(variances, caption)


def _add_call_costs(results, systems, decoders):
    """MACs and ms per denoiser call of every diffusion row's (model, budget), and MACs per utterance."""
    rows = [s for s in systems if s.kind == "diffusion"]
    budgets = {key: sorted({s.layer_budget or decoder.num_blocks for s in rows if s.model == key})
               for key, decoder in decoders.items()}
    costs = denoiser_call_costs(decoders, budgets)
    for system in rows:
        blocks = system.layer_budget or decoders[system.model].num_blocks
        result = results[system.name]
        result.update(costs[(system.model, blocks)], layer_budget=blocks)
        result["macs_per_utt"] = result["macs_per_call"] * result["denoiser_calls"]


def _load_fastpitch(path, model):
    from nemo.collections.tts.models import FastPitchModel

    fastpitch = restore_model(path, FastPitchModel)
    if type(fastpitch) is not FastPitchModel:
        raise TypeError(f"--fastpitch {path} holds a {type(fastpitch).__name__}, not a plain FastPitchModel")
    check_mel_settings_match(model.cfg, fastpitch.cfg, other_name="FastPitch")
    return fastpitch


if __name__ == "__main__":
    main()
