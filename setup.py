"""Build of the optional compiled parse core (postfix_diag._core, C over PCRE2 with JIT).

Everything else about the package is in pyproject.toml. Without a C compiler or without
libpcre2-dev (Debian: apt-get install libpcre2-dev) the core is skipped with one line and the
package installs with its pure-Python parser; `postfix-diag --version` says which parser runs.
POSTFIX_DIAG_CORE_CFLAGS adds compiler flags (the fuzz and sanitizer builds use it).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CORE_SOURCES = ["csrc/pd_core.c", "csrc/pd_module.c"]


def _pcre2_flags() -> tuple[list[str], list[str]] | None:
    """(cflags, libs) for libpcre2-8, or None when it is not installed."""
    for tool in (["pcre2-config", "--cflags"], ["pkg-config", "--cflags", "libpcre2-8"]):
        if shutil.which(tool[0]) is None:
            continue
        libs_cmd = ["pcre2-config", "--libs8"] if tool[0] == "pcre2-config" else ["pkg-config", "--libs", "libpcre2-8"]
        try:
            cflags = subprocess.run(tool, capture_output=True, text=True, check=True).stdout
            libs = subprocess.run(libs_cmd, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            continue
        return shlex.split(cflags), shlex.split(libs)
    return None


class OptionalBuildExt(build_ext):
    """Builds the core when it can; otherwise says why in one line and goes on."""

    def _skip(self, why: str) -> None:
        print(f"postfix-diag: compiled parse core not built ({why}); the pure-Python parser is used",
              file=sys.stderr)

    def run(self):
        flags = _pcre2_flags()
        if flags is None:
            self._skip("libpcre2-dev not found: apt-get install libpcre2-dev")
            return
        cflags, libs = flags
        extra = shlex.split(os.environ.get("POSTFIX_DIAG_CORE_CFLAGS", ""))
        for ext in self.extensions:
            ext.extra_compile_args = [*cflags, "-std=c11", "-Wall", *extra]
            ext.extra_link_args = [*libs, *extra]
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - no compiler, or a failed compile: stay optional
            self._skip(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else 'build failed'}")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._skip(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else 'build failed'}")


setup(
    ext_modules=[Extension("postfix_diag._core", sources=CORE_SOURCES, depends=["csrc/pd_core.h"], optional=True)],
    cmdclass={"build_ext": OptionalBuildExt},
)
