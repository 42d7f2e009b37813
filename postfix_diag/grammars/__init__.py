"""The grammar files (data): read by postfix_diag.grammar through importlib.resources."""
