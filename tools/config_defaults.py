#!/usr/bin/env python3
"""Write postfix_diag/config/defaults.cf from a real Postfix's ``postconf -d``.

    python tools/config_defaults.py [POSTCONF]     # default: postconf on PATH

Run it with Debian 12's postfix package (3.7) installed, or with its postconf extracted from
``apt-get download postfix`` (set LD_LIBRARY_PATH to its usr/lib/postfix). The defaults Postfix
computes on the host it runs on (HOST_DEPENDENT in postfix_diag/config/defaults.py: myhostname,
mydomain, mynetworks, ...) are left out: the tool cannot know them for another server.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from postfix_diag.config.defaults import HOST_DEPENDENT  # noqa: E402

OUT = ROOT / "postfix_diag" / "config" / "defaults.cf"


def main(argv: list[str]) -> int:
    postconf = argv[1] if len(argv) > 1 else "postconf"
    with tempfile.TemporaryDirectory() as empty:  # an empty config dir: only built-in defaults
        (Path(empty) / "main.cf").write_text("")
        (Path(empty) / "master.cf").write_text("")
        defaults = subprocess.run([postconf, "-c", empty, "-d"], capture_output=True, text=True, check=True,
                                  timeout=60).stdout
        version = subprocess.run([postconf, "-c", empty, "-d", "-h", "mail_version"], capture_output=True,
                                 text=True, check=True, timeout=60).stdout.strip()
    lines = [
        f"# Built-in defaults of Postfix {version} as Debian 12 packages it: `postconf -d` of the",
        "# Debian package's postconf, with an empty main.cf, written by tools/config_defaults.py.",
        "# Left out (computed by Postfix on the host it runs on): " + ", ".join(sorted(HOST_DEPENDENT)) + ".",
        "# Values are raw, as postconf -d prints them; postfix_diag/config/expand.py evaluates the",
        "# ${{$compatibility_level} <level {N} ? ...} forms against the configuration's compatibility_level.",
    ]
    kept = 0
    for line in defaults.splitlines():
        name = line.split("=", 1)[0].strip()
        if not name or name in HOST_DEPENDENT:
            continue
        lines.append(line.rstrip())
        kept += 1
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {kept} parameters of Postfix {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
