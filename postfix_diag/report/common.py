"""Numbers and phrases the text and Markdown writers share."""

from __future__ import annotations


def percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "n/a"


def coverage_line(cov) -> str:
    """The one-line parse coverage that ends every text report."""
    return (f"Parse coverage: {cov.total} lines, {cov.recognized} recognized "
            f"({percent(cov.recognized, cov.total)}), {cov.unrecognized} unrecognized"
            + (f", {cov.foreign} from other programs" if cov.foreign else ""))


def span_text(cov_dict: dict) -> str:
    span = cov_dict["time_span"]
    if not span["first"]:
        return "no timestamps"
    return f"{span['first']} .. {span['last']}"


def top_evidence(evidence: dict, limit: int = 3) -> list[str]:
    """Short "name: a (3), b (2)" lines from the list-valued parts of a finding's evidence."""
    out = []
    for name, value in evidence.items():
        if isinstance(value, list) and value and isinstance(value[0], (list, tuple)) and len(value[0]) == 2:
            items = ", ".join(f"{k} ({v})" for k, v in value[:limit])
            out.append(f"{name.replace('_', ' ')}: {items}")
        elif isinstance(value, dict) and value:
            items = ", ".join(f"{k} ({v})" for k, v in list(value.items())[:limit])
            out.append(f"{name.replace('_', ' ')}: {items}")
        elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
            out.append(f"{name.replace('_', ' ')}: {value}")
    return out
