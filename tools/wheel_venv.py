"""postfix-diag the way users install it: the sdist and a wheel built from it, installed
non-editable into a fresh virtualenv. Used by tests/test_packaging.py and `make bench` (start-up).

    build(out_dir) -> {"sdist": Path, "wheel": Path}     python -m build --no-isolation (no network)
    make_venv(wheel, venv_dir) -> Path                    the venv; its bin/postfix-diag is the command

The virtualenv gets its dependencies from the running interpreter's site-packages through a .pth
line: a plain path, so the editable install's own .pth hooks there are not run and the package
itself can only come from the wheel (`python -c "import postfix_diag; print(postfix_diag.__file__)"`
in the venv says so). Nothing is downloaded.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    return r


def build(out: Path) -> dict[str, Path]:
    """The sdist, and the wheel `python -m build` makes from that sdist, in ``out``."""
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)])
    (sdist,) = Path(out).glob("*.tar.gz")
    (wheel,) = Path(out).glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def make_venv(wheel: Path, venv: Path) -> Path:
    """A fresh virtualenv at ``venv`` with ``wheel`` installed (no dependencies: see above)."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = Path(venv) / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
          str(wheel)])
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(site) / "_dependencies_from_build_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return Path(venv)
