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

"""An exclusive lock on a run's output folder, so two runs never write into one folder at the same time.

``folder_lock(folder)`` takes an advisory ``flock`` on ``<folder>/.nemo_distill.lock`` before the first write and
holds it until the block ends. The operating system drops it when the holder exits, however it exits (a killed run
leaves no stale lock). A second run on the same folder is refused at once with the holder's pid, command and start
time. Under DDP only the launching process (global rank 0) locks: the ranks Lightning starts are part of its run.
"""

import contextlib
import fcntl
import json
import os
import sys
import time

__all__ = ["FolderLockedError", "LOCK_NAME", "folder_lock", "path_lock"]

LOCK_NAME = ".nemo_distill.lock"


class FolderLockedError(ValueError):
    """The folder is in use by another run (a ValueError: the folder given cannot be used now)."""


def _is_spawned_rank() -> bool:
    """A process Lightning's DDP launcher started for a rank other than global zero."""
    return any(os.environ.get(key, "0") not in ("", "0") for key in ("LOCAL_RANK", "NODE_RANK", "GROUP_RANK"))


def folder_lock(folder: str, what: str = "run"):
    """Hold the exclusive lock of ``folder`` (created if needed) for the block; ``FolderLockedError`` naming the
    holder if another process has it. ``what`` names this run in the holder record."""
    return path_lock(os.path.join(folder, LOCK_NAME), what, label=folder)


@contextlib.contextmanager
def path_lock(path: str, what: str = "run", label: str = None):
    """The same lock on the file ``path`` itself (for an output that is not a folder of its own yet, e.g. an export
    that is renamed into place: ``<parent>/.<name>.lock``)."""
    folder = label or path
    if _is_spawned_rank():
        yield
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "{}")
            except ValueError:
                holder = {}
            raise FolderLockedError(
                f"{folder} is in use by another {holder.get('what', 'run')} (pid {holder.get('pid', '?')}, "
                f"started {holder.get('started', '?')}: {holder.get('command', '?')}); wait for it to finish or use "
                "another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "what": what, "command": " ".join(sys.argv),
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock
