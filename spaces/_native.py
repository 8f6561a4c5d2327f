"""Native (C++) output of TensorFlow and the LiteRT converter, kept out of one-line messages."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_native_stderr(explained: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Capture what C++ code writes straight to file descriptor 2 (TensorFlow's oneDNN and absl
    start-up notes, the converter's MLIR diagnostics: no Python setting silences them), and
    show its last 20,000 bytes only if the block fails with an exception not in `explained`
    (those already say what went wrong in one line)."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except explained:
            raise
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            os.write(2, captured.read()[-20000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
