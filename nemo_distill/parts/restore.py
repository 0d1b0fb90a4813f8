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

"""Restore a ``.nemo`` and check the class it holds: the one loader every caller of the package uses."""

import pickle
from typing import Optional, Tuple, Type, TypeVar, Union

from nemo_distill.parts.nemo_integrity import CorruptModelFileError, check_nemo_file

__all__ = ["WrongModelClassError", "restore_model"]

M = TypeVar("M")


class WrongModelClassError(ValueError, TypeError):
    """A ``.nemo`` holds another class than the one asked for (a ``ValueError`` and a ``TypeError``, so callers of
    either kind catch it)."""


def restore_model(path: str, cls: Union[Type[M], Tuple[type, ...]], map_location: str = "cpu",
                  eval_mode: bool = True, role: Optional[str] = None) -> M:
    """``ModelPT.restore_from(path)``, checked to be a ``cls`` (or a subclass; a tuple: any of them), in eval mode.

    Before anything is restored the archive is checked (:func:`~nemo_distill.parts.nemo_integrity.check_nemo_file`):
    ``FileNotFoundError`` for a missing file, :class:`~nemo_distill.parts.nemo_integrity.CorruptModelFileError` for
    a truncated, non-tar or altered one; :class:`WrongModelClassError` naming what the file holds. Every message is
    one line naming the file; ``role`` (e.g. ``"--judge"``) starts it."""
    where = f"{role} {path}" if role else path
    from nemo.core.classes import ModelPT

    try:
        check_nemo_file(path)
    except (FileNotFoundError, CorruptModelFileError) as error:
        raise type(error)(f"{role} {error}" if role else str(error)) from None
    try:
        model = ModelPT.restore_from(path, map_location=map_location)
    except pickle.UnpicklingError as error:  # torch's weights-only load refuses objects that would run code
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CorruptModelFileError(f"{where} holds data that are not plain weights, refused (loading them could run "
                                    f"code from the file): {reason[:200]}") from None
    if not isinstance(model, cls):
        expected = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise WrongModelClassError(f"{where} holds a {type(model).__name__}, not a {expected}")
    return model.eval() if eval_mode else model
