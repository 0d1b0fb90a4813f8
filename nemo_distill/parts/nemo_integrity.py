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

"""Integrity of ``.nemo`` files: a record of every member's sha256 inside the archive, checked before restoring.

A ``.nemo`` is an uncompressed tar (NeMo's ``model_config.yaml``, ``model_weights.ckpt``, artefacts). The package's
models append one member, ``nemo_distill_integrity.json``, with the sha256 of every other member when they are
saved (:class:`RecordsIntegrity`); :func:`check_nemo_file` reads every member, compares it with that record and
turns a missing, truncated, non-tar or altered file into one-line errors that name the file. An archive must end in
tar's end-of-archive marker (two zero blocks): a file cut at a member boundary (e.g. exactly where the record
starts) reads as a shorter, complete-looking archive otherwise. A ``.nemo`` without a record (written by NeMo itself,
or by an earlier version of this package) is read in full, so truncation is still found, and accepted with an
:class:`UnrecordedModelFileWarning` naming it: its weights cannot be checked.
"""

import hashlib
import io
import json
import os
import tarfile
import warnings
from typing import Dict

__all__ = ["CorruptModelFileError", "INTEGRITY_MEMBER", "RecordsIntegrity", "UnrecordedModelFileWarning",
           "check_nemo_file", "record_integrity"]

INTEGRITY_MEMBER = "./nemo_distill_integrity.json"
_REQUIRED = ("model_config.yaml", "model_weights.ckpt")


class CorruptModelFileError(ValueError):
    """A ``.nemo`` that is not a complete, unaltered archive."""


class UnrecordedModelFileWarning(UserWarning):
    """A ``.nemo`` without an integrity record: complete, but its members cannot be checked."""


def _ends_with_marker(path: str, end_of_members: int) -> bool:
    """Whether the two zero blocks of tar's end-of-archive marker follow the last member (at ``end_of_members``)."""
    with open(path, "rb") as f:
        f.seek(end_of_members)
        marker = f.read(2 * tarfile.BLOCKSIZE)
    return len(marker) == 2 * tarfile.BLOCKSIZE and not any(marker)


def _member_hashes(tar: tarfile.TarFile) -> Dict[str, str]:
    hashes = {}
    for member in tar.getmembers():
        if not member.isfile() or member.name == INTEGRITY_MEMBER:
            continue
        digest, handle, size = hashlib.sha256(), tar.extractfile(member), 0
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
        if size != member.size:
            raise tarfile.ReadError(f"member {member.name} is cut short ({size} of {member.size} bytes)")
        hashes[member.name] = digest.hexdigest()
    return hashes


def _normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A member header without the time and owner of the write: the same model gives the same archive bytes."""
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    info.pax_headers = {key: value for key, value in info.pax_headers.items()
                        if key not in ("mtime", "atime", "ctime", "uid", "gid", "uname", "gname")}
    return info


class _HashingReader:
    """A member's file object that hashes what is read from it."""

    def __init__(self, handle):
        self.handle, self.digest = handle, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        return chunk


def record_integrity(path: str) -> Dict[str, str]:
    """Add the sha256 record of every member of the ``.nemo`` at ``path`` (call it once, right after the file is
    written; a file that holds one is refused); returns the record. The archive is written again with every member
    header's time and owner cleared, so that the same weights and config always give the same bytes (two identical
    seeded distillations give byte-identical students)."""
    tmp, hashes = f"{path}.tmp-{os.getpid()}", {}
    try:  # one pass: each member hashed as it is copied, the record appended last
        with tarfile.open(path, "r:") as source, tarfile.open(tmp, "w:", format=source.format) as target:
            if INTEGRITY_MEMBER in source.getnames():
                raise ValueError(f"{path} already holds an integrity record")
            for member in source.getmembers():
                if not member.isfile():
                    target.addfile(_normalized(member))
                    continue
                reader = _HashingReader(source.extractfile(member))
                target.addfile(_normalized(member), reader)  # tarfile refuses a member cut short
                hashes[member.name] = reader.digest.hexdigest()
            data = json.dumps({"format": 1, "sha256": hashes}, sort_keys=True, indent=1).encode()
            record = _normalized(tarfile.TarInfo(INTEGRITY_MEMBER))
            record.size, record.mode = len(data), 0o644
            target.addfile(record, io.BytesIO(data))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return hashes


def check_nemo_file(path: str) -> bool:
    """Check the ``.nemo`` at ``path`` before it is restored: ``FileNotFoundError`` if it is missing,
    :class:`CorruptModelFileError` (one line, naming the file) if it is not a complete archive or a member differs
    from its recorded sha256. Returns whether a record was there to check."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such .nemo file")
    try:
        with tarfile.open(path, "r:") as tar:
            names = tar.getnames()
            hashes = _member_hashes(tar)
            record = json.load(tar.extractfile(INTEGRITY_MEMBER)) if INTEGRITY_MEMBER in names else None
            end_of_members = tar.offset
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise CorruptModelFileError(f"{path} is not a readable .nemo archive (truncated or not a .nemo: "
                                    f"{error})") from None
    if names and not _ends_with_marker(path, end_of_members):
        raise CorruptModelFileError(f"{path} is truncated: the archive stops after {len(names)} members without "
                                    "tar's end-of-archive marker (copy or save it again)")
    missing = [name for name in _REQUIRED if not any(n.lstrip("./") == name for n in names)]
    if missing:
        raise CorruptModelFileError(f"{path} is not a .nemo file: it has no {', '.join(missing)}")
    if record is None:
        warnings.warn(f"{path} has no integrity record (written by NeMo itself or by an older nemo_distill): it is "
                      "complete, but its weights cannot be checked", UnrecordedModelFileWarning, stacklevel=2)
        return False
    expected = record.get("sha256", {})
    differing = sorted(name for name in set(expected) | set(hashes) if expected.get(name) != hashes.get(name))
    if differing:
        raise CorruptModelFileError(f"{path} is corrupt: {', '.join(n.lstrip('./') for n in differing)} "
                                    "differ from the sha256 recorded when it was written")
    return True


class RecordsIntegrity:
    """Mixin for a ``ModelPT``: ``save_to`` also writes the integrity record into the ``.nemo``."""

    def save_to(self, save_path: str):
        super().save_to(save_path)  # a new archive each time
        if os.path.isfile(str(save_path)):  # NeMo writes on global rank zero only
            record_integrity(str(save_path))
