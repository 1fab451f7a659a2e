"""The reference page of every check and root cause, generated from the registry and the catalog.

``python -m traindx.docsgen > docs/checks.md`` rewrites the page; a test fails
when the committed page differs from what this module generates.
"""

from __future__ import annotations

import sys

from .checks.registry import all_checks
from .reasoning.catalog import catalog

HEADER = """# Checks and root causes

Generated from the check registry and the failure-mode catalog
(`python -m traindx.docsgen > docs/checks.md`); do not edit by hand.
`traindx explain CODE_OR_ID` prints any entry below.
"""


def _requires(spec) -> str:  # type: ignore[no-untyped-def]
    if not spec.requires:
        return "nothing (reads what is there)"
    return ", ".join(f"`{r}`" if isinstance(r, str) else " or ".join(f"`{a}`" for a in r) for r in spec.requires)


def render_checks_page() -> str:
    out = [HEADER]
    specs = all_checks()
    out.append("## Checks\n")
    out.append("| code | symptom | family | what it detects |")
    out.append("|---|---|---|---|")
    for s in specs:
        out.append(f"| [{s.code}](#{s.code.lower()}) | `{s.emits}` | {s.family} | {s.title} |")
    out.append("")
    for s in specs:
        out.append(f"### {s.code}")
        out.append("")
        out.append(f"`{s.emits}` ({s.family}) — requires {_requires(s)}.")
        out.append("")
        body = s.doc.split("\n", 1)[1].strip() if "\n" in s.doc else ""
        out.append(f"**{s.title}**")
        out.append("")
        out.append(body.replace("## ", "#### "))
        out.append("")
        if s.defaults:
            out.append("Thresholds: " + ", ".join(f"`{k}={v}`" for k, v in s.defaults.items()))
            out.append("")
    out.append("## Root causes\n")
    cat = catalog()
    for cid in sorted(cat):
        e = cat[cid]
        out.append(f"### {cid}")
        out.append("")
        out.append(f"**{e.title}.** {e.summary}")
        out.append("")
        out.append(f"- Quick fix: {e.quick_fix}")
        out.append(f"- Fix: {e.fix}")
        out.append(f"- Expected impact: {e.expected_impact}")
        out.append(f"- Verify: {e.verify}")
        out.append(f"- If not: {e.if_not}")
        if e.checklist:
            out.append("- Checklist:")
            out.extend(f"  - {c}" for c in e.checklist)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render_checks_page())
