"""numba's cache follows edits of the op table's rules (kernel_cache.follow_rules)."""

from __future__ import annotations

import os

from service.graph import kernels, tangent_kernels
from service.graph.kernel_cache import RULE_FILES, follow_rules


def test_a_rule_newer_than_a_kernel_module_moves_the_module_up(tmp_path):
    module, rule = tmp_path / "kernels.py", tmp_path / "ops.py"
    module.write_text("")
    rule.write_text("")
    os.utime(module, (1_000, 1_000))
    os.utime(rule, (2_000, 2_000))
    follow_rules(str(module), (rule,))
    assert module.stat().st_mtime == 2_000  # numba's stamp of the module changed: it recompiles
    os.utime(rule, (1_500, 1_500))
    follow_rules(str(module), (rule,))
    assert module.stat().st_mtime == 2_000  # rules older than the module: nothing to do


def test_the_kernel_modules_are_never_older_than_the_rules():
    newest_rule = max(path.stat().st_mtime for path in RULE_FILES)
    for module in (kernels, tangent_kernels):
        assert os.stat(module.__file__).st_mtime >= newest_rule, module.__name__


def test_a_missing_file_is_not_an_error(tmp_path):
    follow_rules(str(tmp_path / "absent.py"), (tmp_path / "also-absent.py",))
