"""The core must not import the frameworks around it, so it can be tested and benchmarked alone."""

import subprocess
import sys


def test_core_imports_no_framework():
    code = (
        "import sys, service.graph;"
        "bad = sorted(m for m in ('flask', 'celery', 'sqlalchemy', 'kombu', 'redis') if m in sys.modules);"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
