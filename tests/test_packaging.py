"""postfix-diag the way users get it: the sdist and a wheel built from it (`python -m build`, no
network), the wheel installed non-editable into a fresh virtualenv, and the installed command run
as a subprocess from a directory outside the source tree.

tools/wheel_venv.py builds and installs (make bench times the same install); the virtualenv gets
its dependencies from this test's environment, so nothing is downloaded, and the package itself
must come from the wheel, which the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import wheel_venv  # noqa: E402

SCENARIO = ROOT / "sample_logs" / "relay-down"  # captured from a real Postfix, with its expected findings
SAMPLE = SCENARIO / "maillog"
GRAMMARS = sorted(p.name for p in (ROOT / "postfix_diag" / "grammars").glob("*.grammar"))
MAN_PAGE = "postfix_diag/data/postfix-diag.1"


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The sdist and the wheel `python -m build` makes from it."""
    return wheel_venv.build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def venv(built, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed (non-editable)."""
    return wheel_venv.make_venv(built["wheel"], tmp_path_factory.mktemp("venv"))


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A working directory far from the source tree, with a copy of a sample log."""
    d = tmp_path_factory.mktemp("elsewhere")
    (d / "mail.log").write_bytes(SAMPLE.read_bytes())
    os.utime(d / "mail.log", (SAMPLE.stat().st_atime, SAMPLE.stat().st_mtime))
    return d


def _env(outside: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(XDG_CACHE_HOME=str(outside / "cache"), HOME=str(outside), COLUMNS="100")
    return env


def installed(venv: Path, outside: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed `postfix-diag` command, run from outside the source tree."""
    return _run([str(venv / "bin" / "postfix-diag"), *args], cwd=outside, env=_env(outside))


def in_tree(*args: str, cwd: Path) -> str:
    """What the source tree's application prints for the same command line (in-process)."""
    from typer.testing import CliRunner

    from postfix_diag.cli import app

    here = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args)).stdout
    finally:
        os.chdir(here)



def test_sdist_carries_the_grammars_and_the_package(built):
    with tarfile.open(built["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for g in GRAMMARS:
        assert f"postfix_diag/grammars/{g}" in names
    assert {"pyproject.toml", "README.md", "postfix_diag/cli/app.py", "postfix_diag/grammars/__init__.py",
            MAN_PAGE} <= names


def test_wheel_carries_every_module_and_grammar(built):
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    source = {str(p.relative_to(ROOT)) for p in (ROOT / "postfix_diag").rglob("*.py")}
    assert source <= names, sorted(source - names)
    assert {f"postfix_diag/grammars/{g}" for g in GRAMMARS} <= names
    assert MAN_PAGE in names
    assert not any(n.startswith(("tests/", "tools/", "sample_logs/")) for n in names)


def test_package_is_imported_from_the_wheel(venv, outside):
    r = _run([str(venv / "bin" / "python"), "-c", "import postfix_diag, postfix_diag.grammars as g; "
              "print(postfix_diag.__file__); print(g.__file__)"], cwd=outside, env=_env(outside))
    assert r.returncode == 0, r.stderr
    for line in r.stdout.split():
        path = Path(line).resolve()
        assert path.is_relative_to(venv.resolve()) and not path.is_relative_to(ROOT), line


def test_installed_analyze_from_outside_the_tree(venv, outside):
    args = ("analyze", "--format", "json", "--year", "2024", "mail.log")
    r = installed(venv, outside, *args)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert '"recognized"' in r.stdout and '"findings"' in r.stdout
    assert r.stdout == in_tree(*args, cwd=outside)  # the same report as the source tree's
    assert list((outside / "cache" / "postfix-diag").glob("grammar-*.json"))  # the grammar cache written
    again = installed(venv, outside, *args)  # and read
    assert (again.returncode, again.stdout) == (0, r.stdout)
    text = installed(venv, outside, "analyze", "--year", "2024", "mail.log")
    assert text.returncode == 0 and "Parse coverage: " in text.stdout
    expected = json.loads((SCENARIO / "expected.json").read_text())["findings"]
    assert expected and all(f" {f['id']} " in text.stdout for f in expected)
    assert text.stdout == in_tree("analyze", "--year", "2024", "mail.log", cwd=outside)


def test_installed_explain_rules_grammar(venv, outside):
    r = installed(venv, outside, "explain", "DLV001")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("DLV001") and r.stdout == in_tree("explain", "DLV001", cwd=outside)
    r = installed(venv, outside, "rules", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert r.stdout == in_tree("rules", "--format", "json", cwd=outside) and '"DLV001"' in r.stdout
    r = installed(venv, outside, "grammar", "--check")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"ok: {len(GRAMMARS)} grammar files, ")
    r = installed(venv, outside, "grammar")
    assert r.returncode == 0 and r.stdout == (ROOT / "docs" / "events.md").read_text(encoding="utf-8")


def test_installed_man_page(venv, outside):
    """The man page is package data: found through importlib.resources and readable by man."""
    r = _run([str(venv / "bin" / "python"), "-c", "import importlib.resources as r; "
              "print(r.files('postfix_diag') / 'data/postfix-diag.1')"], cwd=outside, env=_env(outside))
    page = Path(r.stdout.strip())
    assert r.returncode == 0 and page.resolve().is_relative_to(venv.resolve()), r.stdout
    assert page.read_bytes() == (ROOT / MAN_PAGE).read_bytes()
    shared = venv / "share" / "man" / "man1" / "postfix-diag.1"  # where man looks next to the venv's bin/
    assert shared.read_bytes() == page.read_bytes()
    if shutil.which("man"):
        env = {"MANPAGER": "cat", "PAGER": "cat", "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8"}
        for cmd in (["man", "-l", str(page)], ["man", "postfix-diag"]):  # the second finds it from PATH
            m = _run(cmd, env=env)
            assert m.returncode == 0 and "POSTFIX-DIAG(1)" in m.stdout, (cmd, m.stderr)


def _complete(venv, outside, words: str) -> list[str]:
    """What the installed command offers to bash for the last word of ``words``."""
    parts = words.split(" ")
    env = dict(_env(outside), _POSTFIX_DIAG_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1))
    r = _run([str(venv / "bin" / "postfix-diag")], cwd=outside, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_installed_shell_completion(venv, outside):
    assert _complete(venv, outside, "postfix-diag ana") == ["analyze"]
    assert _complete(venv, outside, "postfix-diag analyze --format ") == ["text", "markdown", "json", "html",
                                                                         "prometheus"]
    assert _complete(venv, outside, "postfix-diag explain DLV00") == ["DLV001", "DLV002", "DLV003", "DLV004"]
    script = installed(venv, outside, "--show-completion", "bash")
    assert script.returncode == 0 and "_POSTFIX_DIAG_COMPLETE=complete_bash" in script.stdout
    if shutil.which("bash"):  # the script bash would source, sourced by bash
        r = _run(["bash", "-c", 'eval "$(postfix-diag --show-completion bash)" && complete -p postfix-diag'],
                 cwd=outside, env=dict(_env(outside), PATH=f"{venv / 'bin'}:/usr/bin:/bin"))
        assert r.returncode == 0 and "-F _postfix_diag_completion postfix-diag" in r.stdout, r.stderr


def test_installed_install_completion(venv, outside, tmp_path):
    """--install-completion, as a user runs it once: a new interactive bash then completes."""
    if not shutil.which("bash"):
        pytest.skip("bash is not installed")
    env = dict(_env(outside), HOME=str(tmp_path), SHELL="/bin/bash", PATH=f"{venv / 'bin'}:/usr/bin:/bin")
    r = _run(["postfix-diag", "--install-completion", "bash"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "postfix-diag.sh" in (tmp_path / ".bashrc").read_text()
    r = _run(["bash", "-i", "-c", "complete -p postfix-diag"], cwd=tmp_path, env=env)
    assert "-F _postfix_diag_completion postfix-diag" in r.stdout, r.stdout + r.stderr
