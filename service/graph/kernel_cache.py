"""Where numba keeps the compiled kernels: one directory per version of the op table's rules.

numba's cache (``cache=True``) keys a compiled kernel on the contents of its own source file; the
rules it inlines from ``ops.py`` and ``dispatch.py`` (and the prefetch of ``prefetch.py``) are not
looked at. Edit a rule, and every
process would go on running kernels compiled from the old one, tests included (seen here: a
broken ``mul_partial_tangent`` passed the property tests until the cache was cleared). So the
kernel modules call ``use_cache_for_rules()`` before defining their kernels: it points numba at a
directory named after a digest of the rule files, and a changed rule finds an empty one.

numba reads ``config.CACHE_DIR`` when a cached function is decorated (the programmatic twin of
``NUMBA_CACHE_DIR``), so this works whatever imported numba first. Under ``NUMBA_CACHE_DIR`` (the
Dockerfile's) the directories go inside it; else beside the package, or under the home
directory where the package is read-only (a container image), where numba would otherwise
recompile in every process, costing seconds per worker start.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from numba.core import config

HERE = Path(__file__).parent
# every file whose compiled functions the kernels inline
RULE_FILES = (HERE / "ops.py", HERE / "dispatch.py", HERE / "prefetch.py")


def rules_digest(rule_files: tuple[Path, ...] = RULE_FILES) -> str:
    digest = hashlib.sha256()
    for path in rule_files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir(rule_files: tuple[Path, ...] = RULE_FILES) -> Path:
    """The directory of the kernels compiled from these rules."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        base = Path(os.environ["NUMBA_CACHE_DIR"])
    elif os.access(HERE, os.W_OK):
        base = HERE / "__pycache__"
    else:
        base = Path.home() / ".cache" / "gategraph" / "numba"
    return base / f"rules-{rules_digest(rule_files)}"


def use_cache_for_rules() -> None:
    """Cache the kernels decorated from now on in ``cache_dir()``."""
    config.CACHE_DIR = str(cache_dir())
