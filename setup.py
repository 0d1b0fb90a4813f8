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
    packages=find_packages(include=["nemo_distill", "nemo_distill.*"]),
    python_requires=">=3.10",
    install_requires=_requirements("requirements.txt"),
    extras_require={"test": _requirements("requirements-test.txt"), "eval": _requirements("requirements-eval.txt"),
                    "corpus": _requirements("requirements-corpus.txt")},
    license="Apache-2.0",
)
