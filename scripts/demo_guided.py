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

"""The classifier-guided generator from nothing, against the two-model baseline, on a CPU (~70 min on 2 cores).

    python scripts/demo_guided.py --out-dir outputs/guided_demo        (make guided-demo)

1. builds the spoken-digit corpus (``scripts/build_corpus.py digits``: espeak-ng and Piper renditions of
   "zero".."nine", 1-s 16 kHz clips, train/val/test manifests),
2. trains the noise-conditioned classifier (``scripts/train_classifier.py``, ``conf/noisy_classifier.yaml``):
   the single-backbone generator's backbone and the baseline's guide,
3. trains the independent judge (``--config-name digit_judge``: NeMo's MatchboxNet on clean clips only),
4. trains the ClassifierGuidedGenerator's light score network on the frozen classifier and, for the same
   minutes, the two-model baseline's U-Net (``scripts/train_guided.py``, ``--config-name two_model_guided``),
5. benchmarks the two (``scripts/benchmark_guided.py``) on the validation and test clips (the judge never trained
   on them) and writes ``report.md``.

Every stage is one of the project's scripts, run as its own process with the command printed. A rerun skips
finished stages (a corpus clip, a trained ``.nemo``) and resumes an interrupted training from its last checkpoint;
``--force`` retrains.
"""

import argparse
import json
import os

from nemo_distill.diffusion.samplers import SAMPLERS
from nemo_distill.utils.files import write_text_atomic
from demo_stages import StageRunner  # scripts/demo_stages.py, beside this script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="outputs/guided_demo")
    parser.add_argument("--per-digit", type=int, default=100, help="renditions of each digit in the corpus")
    parser.add_argument("--classifier-minutes", type=float, default=24.0)
    parser.add_argument("--classifier-epochs", type=int, default=100)
    parser.add_argument("--judge-epochs", type=int, default=30)
    parser.add_argument("--generator-minutes", type=float, default=12.5,
                        help="training budget of each generator (the same for both: same data, same CPU time)")
    parser.add_argument("--guided-epochs", type=int, default=48,
                        help="epochs of the cosine schedule of the single-backbone score network (~15 s each here)")
    parser.add_argument("--baseline-epochs", type=int, default=26,
                        help="epochs of the cosine schedule of the baseline U-Net (~28 s each here)")
    parser.add_argument("--guidance-scales", type=float, nargs="+", default=[0.0, 8.0, 16.0, 24.0, 32.0])
    parser.add_argument("--guidance-interval", type=float, nargs=2, default=[0.2, 0.9], metavar=("T_MIN", "T_MAX"),
                        help="diffusion times at which both systems are guided (1 = pure noise)")
    parser.add_argument("--samples-per-class", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--sampler", choices=sorted(SAMPLERS), default="ddpm", help="sampler of both systems in the benchmark")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="retrain every model")
    return parser.parse_args(argv)


class GuidedDemo:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out_dir)
        self.corpus = os.path.join(self.out, "digits")
        self.stages = StageRunner(REPO, self.out, args.threads)

    def _trained(self, stage: str, name: str, script: str, minutes: float, epochs: int, overrides=(),
                 config: str = None) -> str:
        """``<out>/<stage>/<name>.nemo``, trained (or resumed) unless it exists."""
        return self.stages.trained(os.path.join(self.out, stage), name, script, minutes, [
            *(["--config-name", config] if config else []), f"train_dataset={self.corpus}/train_manifest.json",
            f"validation_datasets={self.corpus}/val_manifest.json", f"trainer.max_epochs={epochs}",
            "+trainer.enable_progress_bar=false", f"name={name}", *overrides], force=self.args.force)

    def main(self) -> None:
        a = self.args
        self.stages.run("corpus", "build_corpus.py", "digits", "--out-dir", self.corpus,
                        "--per-digit", str(a.per_digit))
        test = f"+test_dataset={self.corpus}/test_manifest.json"
        classifier = self._trained("classifier", "NoisyClassifier", "train_classifier.py", a.classifier_minutes,
                                   a.classifier_epochs, [test])
        judge = self._trained("judge", "DigitJudge", "train_classifier.py", a.classifier_minutes, a.judge_epochs,
                              [test], config="digit_judge")
        guided = self._trained("guided", "ClassifierGuided", "train_guided.py", a.generator_minutes,
                               a.guided_epochs, [f"backbone_path={classifier}", f"+sample_steps={a.steps}"])
        baseline = self._trained("two_model", "TwoModelGuided", "train_guided.py", a.generator_minutes,
                                 a.baseline_epochs, [f"classifier_path={classifier}", f"+sample_steps={a.steps}"],
                                 config="two_model_guided")
        bench = os.path.join(self.out, "benchmark")
        self.stages.run("benchmark", "benchmark_guided.py", "--guided", guided, "--baseline", baseline,
                        "--judge", judge, "--manifest", f"{self.corpus}/val_manifest.json",
                        f"{self.corpus}/test_manifest.json", "--guidance-scales", *map(str, a.guidance_scales),
                        "--guidance-interval", *map(str, a.guidance_interval),
                        "--samples-per-class", str(a.samples_per_class), "--steps", str(a.steps),
                        "--sampler", a.sampler,
                        "--out-dir", bench)
        self.report(bench)

    def report(self, bench: str) -> None:
        with open(os.path.join(self.corpus, "corpus.json")) as f:
            corpus = json.load(f)
        with open(os.path.join(bench, "table.md")) as f:
            table = f.read().strip()
        accuracy = {}
        for stage in ("classifier", "judge"):
            path = os.path.join(self.out, stage, "accuracy_per_level.json")
            if os.path.exists(path):
                with open(path) as f:
                    accuracy[stage] = json.load(f)["accuracy"]
        lines = ["# nemo_distill: a frozen classifier as a generator's backbone, against two models", "",
                 f"Corpus: {json.dumps(corpus.get('counts', corpus))} clips in `digits/`.",
                 f"Backbone accuracy per diffusion time (test clips): {accuracy.get('classifier')}",
                 f"Judge accuracy (clean test clips, t=0): {accuracy.get('judge', {}).get('0.00')}",
                 f"Each generator trained {self.args.generator_minutes:g} min; wall time per stage (min; a stage "
                 f"skipped as finished counts 0): {self.stages.minutes()}", "", table, "",
                 "![benchmark](benchmark/benchmark_guided.png)", "",
                 "Samples: `guided/samples/` and `two_model/samples/` (one per digit: mel PNG and Griffin-Lim wav)."]
        path = os.path.join(self.out, "report.md")
        write_text_atomic(path, "\n".join(lines) + "\n")
        print(f"\nreport: {path}")


if __name__ == "__main__":
    from nemo_distill.utils.locks import folder_lock

    arguments = parse_args()
    with folder_lock(arguments.out_dir, what="demo"):  # two demos on one folder would overwrite each other's stages
        GuidedDemo(arguments).main()
