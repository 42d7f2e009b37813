"""postfix-diag: find out what is wrong with a Postfix server from its mail log."""

__version__ = "0.1.0"
