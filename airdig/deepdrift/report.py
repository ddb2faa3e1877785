"""Rendering a detection result: a terminal table, the JSON contract, one self-contained HTML file.

Everything rendered here has already passed :func:`airdig.deepdrift.detect.redact_drift`; the HTML is
escaped throughout and needs nothing from the network (inline CSS, no scripts).
"""

from __future__ import annotations

import html
from typing import Any

import orjson

from airdig.deepdrift.detect import DetectResult


def _short(v: Any, n: int = 60) -> str:
    text = v if isinstance(v, str) else orjson.dumps(v, default=str).decode()
    return text if len(text) <= n else text[: n - 1] + "…"


def _cause_text(d: dict[str, Any]) -> str:
    c = d.get("cause")
    if not c:
        return "-"
    return f"{c['event_name']} by {c['principal']} via {c['channel']} at {c['event_time']}"


def _writer_text(x: dict[str, Any]) -> str:
    c = x.get("cause")
    return f"set by {c['principal']} ({c['event_name']} at {c['event_time']})" if c else "no write on record"


def _unknown_text(result: DetectResult) -> str:
    unknown = result.attribution.get("unknown_events") or {}
    if not unknown:
        return ""
    names = ", ".join(f"{k} ({v})" for k, v in list(unknown.items())[:10]) + (" …" if len(unknown) > 10 else "")
    return (f"CloudTrail writes not in the writes table (not attributed): {sum(unknown.values())} write(s) "
            f"of {len(unknown)} event name(s): {names}")


def to_table(result: DetectResult) -> str:
    lines: list[str] = []
    rows = []
    for d in result.drifts:
        diffs = "; ".join(f"{x['path']}: {_short(x['expected'], 30)} -> {_short(x['actual'], 30)}"
                          for x in d["diffs"]) or "-"
        rows.append([d["severity"], d["kind"], d["terraform_address"] or f"{d['resource_type']}.{d['native_id']}",
                     _short(diffs, 70), _short(_cause_text(d), 80)])
    header = ["SEVERITY", "KIND", "RESOURCE", "DIFFERENCES", "CAUSE"]
    if rows:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    else:
        lines.append("No drift: every covered resource matches its Terraform state.")
    for p in result.pending:
        lines.append(f"pending ({'/'.join(p.get('actions') or [])}): "
                     f"{p['terraform_address'] or p['resource_type'] + '.' + p['native_id']} {p['kind']} "
                     + ", ".join(x["path"] for x in p["diffs"]))
    cov = result.coverage
    pct = f"{100.0 * cov['managed'] / cov['total']:.0f}%" if cov["total"] else "n/a"
    lines.append("")
    lines.append(f"Coverage: {cov['managed']}/{cov['total']} live resources managed by Terraform ({pct}).")
    lines.extend(coverage_lines(cov))
    attributed = [(d, x) for d in result.drifts for x in d["diffs"] if x.get("cause")]
    if attributed:
        lines.append("Who set each attribute:")
        for d, x in attributed:
            lines.append(f"  {d['terraform_address'] or d['native_id']} {x['path']}: {_writer_text(x)}")
    for d in result.drifts:
        rem = d.get("remediation") or {}
        if rem.get("command"):
            lines.append(f"  {d['terraform_address'] or d['native_id']}: {rem['action']}: {rem['command']}")
    if _unknown_text(result):
        lines.append(_unknown_text(result))
    for e in result.errors:
        lines.append(f"warning: {e}")
    return "\n".join(lines)


def _compared_text(cov: dict[str, Any]) -> str:
    c = cov.get("compared") or {}
    share = c.get("share")
    pct = f" ({100.0 * share:.0f}%)" if isinstance(share, float | int) else ""
    return f"{c.get('compared', 0)}/{c.get('state_resources', 0)} state resources compared{pct}"


def coverage_lines(cov: dict[str, Any]) -> list[str]:
    """The coverage matrix as text: what was checked, unknown (why) or unsupported."""
    lines = [f"Compared: {_compared_text(cov)}."]
    for s in cov.get("states", []):
        lines.append(f"  state {s['source']}: {s['status']}" + (f" ({s['reason']})" if s.get("reason") else ""))
    um = cov.get("unmanaged") or {}
    if um.get("status") == "unknown":
        lines.append(f"  unmanaged detection: unknown ({um.get('reason', '')})")
    rows = [[s["type"], s["account"], s["region"], s["status"], f"{s['compared']}/{s['state_resources']}",
             f"{s['managed']}/{s['live']}", s.get("reason", "")] for s in cov.get("scopes", [])]
    if rows:
        header = ["TYPE", "ACCOUNT", "REGION", "STATUS", "COMPARED", "MANAGED/LIVE", "WHY"]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    if cov.get("unknown_types"):
        lines.append(f"Unknown (could not fetch): {', '.join(cov['unknown_types'])}")
    return lines


def to_json(result: DetectResult) -> bytes:
    return orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2, default=str)


_CSS = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}th{background:#f3f3f3}
.critical{background:#b00020;color:#fff}.high{background:#e65100;color:#fff}.medium{background:#f9a825}
.low{background:#c8e6c9}.unknown{background:#fff3cd}.unsupported{background:#eee}code,pre{font:12px ui-monospace,monospace;white-space:pre-wrap;margin:0}"""


def to_html(result: DetectResult, title: str = "DeepDrift report") -> str:
    e = html.escape
    rows = []
    for d in result.drifts:
        diffs = "".join(f"<li><code>{e(x['path'])}</code>: <code>{e(_short(x['expected'], 200))}</code> → "
                        f"<code>{e(_short(x['actual'], 200))}</code> <small>{e(_writer_text(x))}</small></li>"
                        for x in d["diffs"])
        rem = d.get("remediation") or {}
        rows.append(
            f"<tr><td class=\"{e(d['severity'])}\">{e(d['severity'])}</td><td>{e(d['kind'])}</td>"
            f"<td><code>{e(d['terraform_address'] or '')}</code><br><small>{e(d['resource_id'])}</small></td>"
            f"<td><ul>{diffs}</ul></td><td>{e(_cause_text(d))}</td>"
            f"<td>{e(rem.get('action', ''))}<br><code>{e(rem.get('command', ''))}</code></td></tr>")
    cov = result.coverage
    cov_rows = "".join(
        f"<tr><td>{e(s['type'])}</td><td>{e(s['account'])}</td><td>{e(s['region'])}</td>"
        f"<td class=\"{e(s['status'])}\">{e(s['status'])}</td><td>{s['compared']}/{s['state_resources']}</td>"
        f"<td>{s['managed']}/{s['live']}</td><td>{e(s.get('reason', ''))}</td></tr>"
        for s in cov.get("scopes", []))
    state_rows = "".join(f"<li><code>{e(s['source'])}</code>: {e(s['status'])}"
                         + (f" ({e(s['reason'])})" if s.get("reason") else "") + "</li>"
                         for s in cov.get("states", []))
    um = cov.get("unmanaged") or {}
    if um.get("status") == "unknown":
        state_rows += f"<li>unmanaged detection: unknown ({e(um.get('reason', ''))})</li>"
    pending = "".join(f"<li>{e('/'.join(p.get('actions') or []))}: <code>{e(p['terraform_address'] or p['native_id'])}"
                      f"</code> {e(p['kind'])} {e(', '.join(x['path'] for x in p['diffs']))}</li>"
                      for p in result.pending)
    errors = "".join(f"<li>{e(x)}</li>" for x in result.errors)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"
            f"<p>{len(result.drifts)} drift(s); {cov['managed']}/{cov['total']} live resources managed.</p>"
            "<table><tr><th>Severity</th><th>Kind</th><th>Resource</th><th>Differences</th><th>Cause</th>"
            f"<th>Remediation</th></tr>{''.join(rows)}</table>"
            + (f"<h2>Pending (a planned apply is making these)</h2><ul>{pending}</ul>" if pending else "")
            + f"<h2>Coverage</h2><p>{e(_compared_text(cov))}.</p><ul>{state_rows}</ul>"
            "<table><tr><th>Type</th><th>Account</th><th>Region</th><th>Status</th><th>Compared</th>"
            f"<th>Managed/live</th><th>Why</th></tr>{cov_rows}</table>"
            + (f"<p>{e(_unknown_text(result))}</p>" if _unknown_text(result) else "")
            + (f"<h2>Input problems</h2><ul>{errors}</ul>" if errors else "") + "</body></html>")
