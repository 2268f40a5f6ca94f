"""The README's tour and Python snippets, taken from README.md itself and run as written.

`gategraph serve` starts on a free port (not 8000: the tour must not depend on it); its printed
export lines are all the snippets get, as a newcomer pasting them into another shell would.
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.e2e.test_serve import free_port, start_serve, stop

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^( *)```(sh|python)\n(.*?)^\1```", re.M | re.S)


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def blocks(title: str, language: str) -> list[str]:
    found = [textwrap.dedent(code) for _, lang, code in BLOCK.findall(section(title)) if lang == language]
    assert found, f"no {language} block under {title!r}"
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("readme")
    serve, exports, _ = start_serve(home, free_port(), "serve.log")
    yield exports
    stop(serve)


def test_the_tour_runs_as_written(served):
    script = "set -euo pipefail\n" + "\n".join(blocks("A five-minute tour", "sh"))
    env = {**os.environ, **served, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '"outputs":{"f":-12.0}' in out  # step 2
    assert '"status": "succeeded"' in out  # step 3, the CLI
    assert "id,kind,op,value,grad" in out and "q,gate,add,3.0,-4.0" in out  # step 4
    assert '"id":"x","kind":"input","value":-2.0,"grad":-4.0' in out


def test_the_python_snippets_run_as_written(served, monkeypatch, capsys):
    for name, value in served.items():
        monkeypatch.setenv(name, value)
    namespace: dict = {}
    for code in blocks("The Python client", "python") + blocks("Directions and curvature", "python"):
        exec(compile(code, "README.md", "exec"), namespace)  # the README's own snippets, run as written
    assert list(namespace["arrays"].tangents) == [1.0, 0.0, 0.0, 1.0, -4.0]
    assert namespace["jacobian"].tolist() == [[1.0, 1.0, 0.0], [-4.0, -4.0, 3.0]]
    assert "[0. 0.]" in capsys.readouterr().out  # the Newton step's printed minimum
