"""numba's cache follows edits of the op table's rules: one cache directory per version of them."""

from __future__ import annotations

from pathlib import Path

from service.graph import kernels, tangent_kernels
from service.graph.kernel_cache import cache_dir, rules_digest


def test_the_digest_follows_every_rule_file(tmp_path):
    ops, dispatch = tmp_path / "ops.py", tmp_path / "dispatch.py"
    ops.write_text("return before * after\n")
    dispatch.write_text("if op == MUL_CODE: ...\n")
    first = rules_digest((ops, dispatch))
    assert rules_digest((ops, dispatch)) == first
    ops.write_text("return before_t * after\n")
    second = rules_digest((ops, dispatch))
    dispatch.write_text("if op == ADD_CODE: ...\n")
    assert len({first, second, rules_digest((ops, dispatch))}) == 3


def test_under_numba_cache_dir_the_kernels_go_inside_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert cache_dir().parent == tmp_path and cache_dir().name == f"rules-{rules_digest()}"


def test_every_kernel_is_cached_under_the_current_rules():
    where = cache_dir()
    for module in (kernels, tangent_kernels):
        for name in ("forward_one", "backward_one", "forward_batch", "backward_batch"):
            path = Path(getattr(module, name)._cache._cache_path)
            assert where in path.parents, (module.__name__, name, path)
