"""The layers point one way: core <- storage <- worker and API <- CLI; SQL is built only in storage.

Read from the source (the imports each module states), so a new import that breaks the shape
fails here, whatever the tests of behaviour say.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "and_", "or_", "func", "bindparam"}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import of a file, relative ones resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.append((module, [alias.name for alias in node.names]))
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_nothing_under_service_imports_the_worker():
    offenders = [
        f"{p.relative_to(ROOT)}: {m}"
        for p in _modules("service")
        for m, _ in _imports(p)
        if m.split(".")[0] == "worker"
    ]
    assert offenders == []


def test_the_api_builds_no_sql():
    offenders = [
        f"{p.relative_to(ROOT)}: {m} {sorted(SQL_BUILDERS & set(names))}"
        for p in _modules("service/api")
        for m, names in _imports(p)
        if m.startswith("sqlalchemy") and SQL_BUILDERS & set(names)
    ]
    assert offenders == []


def test_storage_and_runtime_import_no_api_and_no_flask():
    for folder in ("service/storage", "service/runtime"):
        for path in _modules(folder):
            for module, _ in _imports(path):
                assert not module.startswith(("service.api", "flask", "worker")), f"{path.relative_to(ROOT)}: {module}"


def test_the_core_imports_only_itself_and_numeric_libraries():
    # llvmlite is numba's own code generator: prefetch.py builds an LLVM intrinsic with it
    allowed = ("service.graph", "numpy", "numba", "llvmlite", "marshmallow", "orjson", "__future__")
    for path in _modules("service/graph"):
        for module, _ in _imports(path):
            top = module.split(".")[0]
            assert module.startswith(allowed) or top in sys.stdlib_module_names, f"{path.relative_to(ROOT)}: {module}"


def test_importing_the_api_builds_no_worker_app():
    code = "import sys, service.api.app_factory; print('worker.celery_app' in sys.modules, 'worker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]
