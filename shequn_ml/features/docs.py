"""Render ``docs/features.md`` from the feature catalogue, so the docs cannot drift.

Run ``python -m shequn_ml.features.docs > docs/features.md``; a test keeps the file
equal to this output.
"""

from __future__ import annotations

from shequn_ml.features._registry import template_text
from shequn_ml.features.pipeline import feature_catalogue
from shequn_ml.features.spec import FeatureSpec


def features_markdown(spec: FeatureSpec | None = None) -> str:
    """Markdown table of every feature the spec produces, grouped by family."""
    spec = spec or FeatureSpec()
    defs = feature_catalogue(spec)
    lines = [
        "# Features",
        "",
        "Generated from the code by `python -m shequn_ml.features.docs` for the default spec "
        f"(`features/default.yaml`: windows {', '.join(map(str, spec.windows))} days); a test "
        "keeps this file equal to that output.",
        "",
        "Every feature at cutoff t reads only events with ts < t. Keys: `group_id`, "
        "`member_id`, `cutoff`. Window 'all' means all history before the cutoff.",
        "",
        "Reasons are shown with the member's value in place of `{value}`; the English ones "
        "agree with it in number (\"1 coupon\", \"0 coupons\", \"1.5 days\"). Features of the "
        "group_context family are the group's, not the member's: they are left out of member "
        "reasons by default and reported once per group.",
        "",
    ]
    for family in spec.families:
        rows = [d for d in defs.values() if d.family == family]
        lines += [f"## {family} ({len(rows)} features)", "",
                  "| feature | window | meaning | reason (en / 中文) |", "|---|---|---|---|"]
        for d in rows:
            window = f"{d.window_days} d" if d.window_days else "all"
            reason = f"{template_text(d.reason_en)} / {d.reason_zh}" if d.reason_en else ""
            if d.reason_en_negative:
                reason += (f"; below 0: {template_text(d.reason_en_negative)} / {d.reason_zh_negative} "
                           "(with the magnitude)")
            if d.reason_en_zero:
                reason += f"; 0: {template_text(d.reason_en_zero)} / {d.reason_zh_zero}"
            lines.append(f"| `{d.name}` | {window} | {d.meaning} | {reason} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(features_markdown(), end="")
