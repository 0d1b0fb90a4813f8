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

"""Text to wav with an exported model repository (``scripts/export.py``), onnxruntime and numpy only: no torch, no
NeMo. It runs the repository the way Triton's ensemble would: the character tokenizer from ``tokenizer.json``, the
starting noise from ``--seed``, then every model of ``deploy.json``'s pipeline in order, feeding each the tensors
its ``input_map`` names.

    python -m nemo_distill.runtime.onnx_client REPO "Hello world." out.wav [--seed 0] [--threads 1]
    nemo-distill-infer-onnx REPO "Hello world." out.wav          # the same, as installed by pip
    python scripts/infer_onnx.py REPO "Hello world." out.wav     # the same, from a checkout

The noise is ``max_frames_per_token * len(tokens)`` frames (the client does not know the utterance's length
before the front-end runs; the sampler graph crops it), drawn with ``numpy.random.default_rng(seed)``: the same
noise given to ``DiffusionSpectrogramGenerator.generate_spectrogram(noise=...)`` gives the same mel.
"""

import argparse
import hashlib
import json
import os
import sys
import wave
from typing import Dict, List, Sequence

import numpy as np

from nemo_distill.runtime.text import MAX_CHARS, split_text
from nemo_distill.runtime.tokenizer import CharTokenizer, UnspeakableTextWarning

__all__ = ["CharTokenizer", "OnnxTTSPipeline", "UnspeakableTextWarning", "main", "onnx_session", "starting_noise",
           "manifest_digest", "read_manifest", "verify_repository", "write_wav"]


def starting_noise(tokens: np.ndarray, n_mels: int, max_frames_per_token: int, seed: int) -> np.ndarray:
    """Standard normal ``[B, n_mels, L * max_frames_per_token]`` float32 from ``seed``: enough frames for any
    utterance of ``L`` tokens (the sampler graph crops it to the utterance's length)."""
    rng = np.random.default_rng(seed)
    frames = tokens.shape[1] * int(max_frames_per_token)
    return rng.standard_normal((tokens.shape[0], int(n_mels), frames), dtype=np.float32)


def onnx_session(path: str, threads: int = 1, providers=None, spin: bool = False):
    """An onnxruntime session on ``path`` with ``threads`` intra-op threads (one inter-op), on the CPU unless
    ``providers`` say otherwise; ``spin`` lets idle workers wait busily (off: on shared cores they steal them)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=providers or ["CPUExecutionProvider"])


class OnnxTTSPipeline:
    """The repository's ensemble, run step by step with onnxruntime sessions (one per model)."""

    def __init__(self, repo: str, threads: int = 1, providers=None, spin: bool = False):
        self.manifest = read_manifest(repo)
        with open(os.path.join(repo, self.manifest["tokenizer"])) as f:
            self.tokenizer = CharTokenizer(json.load(f))
        self.sessions = {
            step["model"]: onnx_session(os.path.join(repo, self.manifest["models"][step["model"]]["file"]),
                                        threads=threads, providers=providers, spin=spin)
            for step in self.manifest["pipeline"]
        }

    def noise(self, tokens: np.ndarray, seed: int = 0) -> np.ndarray:
        """The starting noise for ``tokens`` (:func:`starting_noise` with this repository's settings)."""
        return starting_noise(tokens, self.manifest["n_mels"], self.manifest["max_frames_per_token"], seed)

    def run_steps(self, tensors: Dict[str, np.ndarray], steps: Sequence[Dict]) -> Dict[str, np.ndarray]:
        """Run ensemble ``steps`` (entries of ``deploy.json``'s pipeline) on ``tensors`` (by ensemble tensor name);
        returns ``tensors`` with every step's outputs added."""
        for step in steps:
            feeds = {name: tensors[source] for name, source in step["inputs"].items()}
            outputs = self.sessions[step["model"]].run(list(step["outputs"]), feeds)
            tensors.update({step["outputs"][name]: value for name, value in zip(step["outputs"], outputs)})
        return tensors

    def run(self, tokens: np.ndarray, noise: np.ndarray) -> Dict[str, np.ndarray]:
        """All ensemble tensors (``MEL``, ``MEL_LENS``, ``AUDIO``...) for ``TOKENS`` ``[B, L]``, ``NOISE``."""
        tensors = {"TOKENS": tokens.astype(np.int64), "NOISE": noise.astype(np.float32)}
        return self.run_steps(tensors, self.manifest["pipeline"])

    def synthesize(self, texts, seed: int = 0, strict: bool = False, max_chars: int = MAX_CHARS) -> List[np.ndarray]:
        """Texts -> one float32 waveform per text, cropped to its own length. Every text is checked first
        (:meth:`CharTokenizer.check`; ``strict`` refuses characters the tokenizer drops). Texts of at most
        ``max_chars`` characters run as one batch; a longer text is spoken piece by piece (:func:`split_text`,
        piece ``j``'s noise from ``seed + j``) and the pieces' audio joined, so memory stays bounded."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("no text given")
        for text in texts:
            self.tokenizer.check(text, strict)
        if all(len(text) <= max_chars for text in texts):
            return self._speak(self.tokenizer.encode_batch(texts, check=False), seed)
        return [np.concatenate(list(self.speak_pieces(text, seed, max_chars, checked=True))) for text in texts]

    def speak_pieces(self, text: str, seed: int = 0, max_chars: int = MAX_CHARS, strict: bool = False,
                     checked: bool = False):
        """One text's audio, piece by piece as :meth:`synthesize` makes it (piece ``j``'s noise from ``seed + j``),
        yielded as each is made: a caller that writes them as they come holds one piece in memory, whatever the
        text's length."""
        if not checked:
            self.tokenizer.check(text, strict)
        if len(text) <= max_chars:
            pieces = [text]  # one piece, as it is (what synthesize speaks of a short text)
        else:
            pieces = [p for p in split_text(text, max_chars) if self.tokenizer.speakable(p)]
        for j, piece in enumerate(pieces):
            yield self._speak(self.tokenizer.encode_batch([piece], check=False), seed + j)[0]

    def _speak(self, tokens: np.ndarray, seed: int) -> List[np.ndarray]:
        tensors = self.run(tokens, self.noise(tokens, seed))
        hop = int(self.manifest["hop_length"])
        return [tensors["AUDIO"][i, 0, : int(n) * hop] for i, n in enumerate(tensors["MEL_LENS"])]


def manifest_digest(manifest: Dict) -> str:
    """The sha256 of ``deploy.json``'s content without its own ``manifest_sha256`` (canonical JSON): what the
    exporter records and every reader checks, so an edited ``deploy.json`` is named instead of failing later."""
    content = {key: value for key, value in manifest.items() if key != "manifest_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(repo: str, check_models: bool = True) -> Dict:
    """``deploy.json`` of the repository at ``repo``, checked: its own content against the sha256 it records, the
    tokenizer file (it changes the speech) and, with ``check_models``, every model file against theirs
    (:func:`verify_repository`). ``FileNotFoundError`` or ``ValueError``, one line naming the file. A repository
    exported before these hashes were recorded is read with a warning."""
    manifest_path = os.path.join(repo, "deploy.json")
    if not os.path.isfile(manifest_path):
        raise FileNotFoundError(f"{manifest_path} not found: {repo} is not a repository written by "
                                "scripts/export.py")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except ValueError as error:
        raise ValueError(f"{manifest_path} is not valid JSON ({error}): export the repository again") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise ValueError(f"{manifest_path} is not a repository manifest: export the repository again")
    recorded = manifest.get("manifest_sha256")
    tokenizer_path = os.path.join(repo, str(manifest.get("tokenizer", "tokenizer.json")))
    if recorded is None:
        warnings.warn(f"{manifest_path} records no sha256 of itself or of its tokenizer (exported by an older "
                      "nemo_distill): export again to have them checked", UserWarning, stacklevel=2)
    else:
        if manifest_digest(manifest) != recorded:
            raise ValueError(f"{manifest_path} was changed after export: its content differs from the sha256 it "
                             "records (export the repository again)")
        if not os.path.isfile(tokenizer_path):
            raise FileNotFoundError(f"{tokenizer_path} (the tokenizer) is missing from the repository: export it "
                                    "again")
        if _sha256_file(tokenizer_path) != manifest.get("tokenizer_sha256"):
            raise ValueError(f"{tokenizer_path} is corrupt or edited: its sha256 differs from the one deploy.json "
                             "records (a changed tokenizer changes the speech; export the repository again)")
    if check_models:
        verify_repository(repo, manifest)
    return manifest


def verify_repository(repo: str, manifest: Dict) -> None:
    """Every model file that ``deploy.json`` lists exists and has the sha256 it records (checked before any session is
    created): ``FileNotFoundError`` or ``ValueError``, one line naming the file."""
    for name, entry in manifest["models"].items():
        path = os.path.join(repo, entry["file"])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} ({name}) is missing from the repository: export it again")
        if _sha256_file(path) != entry["sha256"]:
            raise ValueError(f"{path} ({name}) is corrupt: its sha256 differs from the one deploy.json records "
                             "(export the repository again)")


def write_wav(path: str, audio, sample_rate: int) -> int:
    """16-bit PCM mono wav (standard library ``wave``) of ``audio``: one array, or an iterable of arrays written as
    they come (memory independent of the length). Written to a temporary file and renamed; on any error the
    temporary file is removed and nothing is left at ``path``. Returns the number of samples."""
    pieces = [audio] if isinstance(audio, np.ndarray) else audio
    tmp, samples = f"{path}.tmp-{os.getpid()}", 0
    try:
        with wave.open(tmp, "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(int(sample_rate))
            for piece in pieces:
                f.writeframes((np.clip(piece, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes())
                samples += len(piece)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return samples


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", help="model repository written by scripts/export.py")
    parser.add_argument("text", help="text to speak")
    parser.add_argument("output", help="output .wav")
    parser.add_argument("--seed", type=int, default=0, help="seed of the starting noise")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--strict", action="store_true", help="refuse characters the tokenizer cannot speak")
    args = parser.parse_args(argv)
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):  # before any work
        print(f"error: {args.output}: the folder {folder} does not exist or is not writable", file=sys.stderr)
        return 2
    try:
        pipeline = OnnxTTSPipeline(args.repo, threads=args.threads)
        pipeline.tokenizer.check(args.text, args.strict)
        # piece by piece into the wav as each is made: memory independent of the text's length
        samples = write_wav(args.output, pipeline.speak_pieces(args.text, seed=args.seed, checked=True),
                            pipeline.manifest["sample_rate"])
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # disk full, permissions: one line, no temporary file left
        print(f"error: {args.output}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"{args.output}: {samples / pipeline.manifest['sample_rate']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
