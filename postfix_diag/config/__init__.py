"""Postfix configuration: main.cf, master.cf and postconf output, as a `Config` model.

    from postfix_diag import config
    cfg = config.load(["sample_logs/relay-down/postconf-n.txt", "sample_logs/relay-down/master.cf"])
    cfg.expanded("relayhost")                      # '[127.0.0.1]:2599'
    cfg.service("smtp", "inet").chrooted           # True
    cfg.in_mynetworks("127.0.0.3")                 # True (mynetworks = 127.0.0.0/8)
    config.fixes.add_to_list("mydestination", "loop.example.com", cfg).commands

docs/config.md describes what is read, the defaults, expansion and what is not supported.
"""

from . import fixes, safety
from .discover import ENV_OFF, Discovery, discover, find_postconf
from .expand import ExpansionError
from .model import Config, Definition, Source, Table
from .read import ConfigError, from_text, load
from .services import Override, Service
from .syntax import Problem as ConfigProblem

__all__ = [
    "Config", "ConfigError", "ConfigProblem", "Definition", "Discovery", "ENV_OFF", "ExpansionError",
    "Override", "Service", "Source", "Table", "discover", "find_postconf", "fixes", "from_text", "load",
    "safety",
]
