"""Where numba keeps the compiled kernels, and keeping them fresh when the op table's rules change.

numba's cache (``cache=True``) keys a compiled kernel on its own source file's modification time
and size; the rules it inlines from ``ops.py`` and ``dispatch.py`` are not looked at. Edit a rule,
and every process would go on running kernels compiled from the old one, tests included (seen
here: a broken ``mul_partial_tangent`` passed the property tests until the cache was cleared). So
each kernel module calls ``follow_rules(__file__)`` before defining its kernels: when a rule file
is newer than the module, the module's modification time is moved up to it, which numba takes as
a change of the module and compiles afresh, once.

Imported before numba by the kernel modules: ``NUMBA_CACHE_DIR`` must be set before numba reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).parent
RULE_FILES = (HERE / "ops.py", HERE / "dispatch.py")

# numba caches compiled kernels beside the package; where that is read-only (a container
# image), it would silently recompile in every process, costing seconds per worker start.
if "NUMBA_CACHE_DIR" not in os.environ and not os.access(HERE, os.W_OK):
    os.environ["NUMBA_CACHE_DIR"] = str(Path.home() / ".cache" / "gategraph" / "numba")


def follow_rules(module_file: str, rule_files: tuple[Path, ...] = RULE_FILES) -> None:
    """Make numba see a change of the rules as a change of ``module_file`` (see the module's docstring)."""
    module = Path(module_file)
    try:
        newest = max(path.stat().st_mtime for path in rule_files)
        if newest > module.stat().st_mtime:
            os.utime(module, (newest, newest))
    except OSError:
        pass  # a read-only install, whose rules nobody edits
