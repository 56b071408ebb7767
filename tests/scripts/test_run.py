"""``scripts/run`` installs only when pyproject.toml changed (shown on a copy with stand-ins
for python3, pip and the gateway, so nothing is really installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stand_in(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _run(tree: Path, bin_dir: Path) -> list[str]:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(
        [str(tree / "scripts" / "run"), "--port", "9000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    return done.stdout.splitlines()


def test_run_installs_once_per_pyproject(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "run", tree / "scripts" / "run")
    (tree / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = tmp_path / "bin"
    venv = tree / ".venv" / "bin"
    # The stand-in python3 makes a venv whose pip "installs" the stand-in gateway.
    _stand_in(
        bin_dir / "python3",
        f"mkdir -p {venv}\n"
        f"printf '#!/bin/sh\\necho installed\\n' > {venv}/pip\n"
        f"printf '#!/bin/sh\\necho \"gateway $*\"\\n' > {venv}/aoi-gateway\n"
        f"chmod +x {venv}/pip {venv}/aoi-gateway",
    )
    assert _run(tree, bin_dir) == ["installed", "gateway --log-format text --port 9000"]
    assert _run(tree, bin_dir) == ["gateway --log-format text --port 9000"]
    (tree / "pyproject.toml").write_text("[project]\nname = 'changed'\n")
    assert _run(tree, bin_dir)[0] == "installed"
    assert _run(tree, bin_dir) == ["gateway --log-format text --port 9000"]
