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

"""nemo_distill: diffusion text-to-speech for NVIDIA NeMo 3.0, and the distillation that makes it fast."""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _requirements(name):
    with open(os.path.join(HERE, name)) as f:
        return [line.split("#")[0].strip() for line in f if line.split("#")[0].strip()]


setup(
    name="nemo_distill",
    version="0.1.0",
    description="Diffusion mel decoders for NeMo TTS, progressive distillation of their samplers, and deployment",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["nemo_distill", "nemo_distill.*"]) + ["nemo_distill.conf"],
    package_dir={"nemo_distill.conf": "conf"},  # the Hydra configs travel inside the wheel
    package_data={"nemo_distill.conf": ["*.yaml"]},
    entry_points={"console_scripts": [
        "nemo-distill-synthesize = nemo_distill.cli.synthesize:main",
        "nemo-distill-export = nemo_distill.cli.export:main",
        "nemo-distill-infer-onnx = nemo_distill.runtime.onnx_client:main",
        "nemo-distill-serve = nemo_distill.cli.serve:main",
        "nemo-distill-infer-triton = nemo_distill.runtime.triton_client:main",
    ]},
    python_requires=">=3.10",
    install_requires=_requirements("requirements.txt"),
    extras_require={"test": _requirements("requirements-test.txt"), "eval": _requirements("requirements-eval.txt"),
                    "corpus": _requirements("requirements-corpus.txt"), "serve": _requirements("requirements-serve.txt")},
    license="Apache-2.0",
)
