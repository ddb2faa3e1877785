// Drift: every drift event with filters, expected-vs-actual diffs, who caused it, how to fix it,
// and acknowledge / resolve.

import { gql } from "../api.js";
import { h, panel, fill, emptyBox, badge, kindBadge, resHref, shortId, timeEl, principalEl, fmtTime, clear, toast, jsonText, errorBox } from "../dom.js";
import { diffTable } from "./resource.js";

const FIELDS = `id resourceId resourceType terraformAddress kind severity status detectedAt resolvedAt
  diffs { path expected actual cause { eventId eventName eventTime principal channel sourceIp } } cause { eventId eventName eventTime principal channel sourceIp } remediation`;
const LIST = (at) => `query($f: DriftFilter, $after: String${at ? ", $at: String" : ""}) { driftEvents(first: 100, after: $after, filter: $f${at ? ", at: $at" : ""}) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { ${FIELDS} } } } }`;
const ACK = `mutation($id: ID!) { acknowledgeDrift(id: $id) { id status } }`;
const RESOLVE = `mutation($id: ID!) { resolveDrift(id: $id) { id status resolvedAt } }`;

const SEVERITIES = ["", "critical", "high", "medium", "low"];
const STATUSES = ["", "open", "acknowledged", "resolved"];

export function renderDrift({ root, params, navigate, signal, at }) {
  const sev = params.get("severity") || "", status = params.has("status") ? params.get("status") : "open";
  const go = (s, st) => navigate(`#/drift?severity=${encodeURIComponent(s)}&status=${encodeURIComponent(st)}`);
  const sevSel = h("select", { id: "f-severity", onchange: () => go(sevSel.value, stSel.value) },
    SEVERITIES.map((x) => h("option", { value: x, selected: x === sev }, x || "any")));
  const stSel = h("select", { id: "f-status", onchange: () => go(sevSel.value, stSel.value) },
    STATUSES.map((x) => h("option", { value: x, selected: x === status }, x || "any")));
  const count = h("span", { class: "count" });
  const body = h("div", {});
  root.append(h("div", { class: "filters" }, h("label", {}, "severity"), sevSel, h("label", {}, "status"), stSel, count),
    panel("Drift events", { flush: true, id: "drift-table" }, body));

  const filter = {};
  if (sev) filter.severity = sev;
  if (status) filter.status = status;
  const tbody = h("tbody", {});
  const more = h("div", { class: "pad" });

  async function page(after) {
    const d = (await gql(LIST(at), at ? { f: filter, after, at } : { f: filter, after }, { signal })).driftEvents;
    count.textContent = `${d.totalCount} matching`;
    for (const { node } of d.edges) addRow(node);
    clear(more);
    if (d.pageInfo.hasNextPage) {
      more.append(h("button", { class: "btn", type: "button", onclick: () => page(d.pageInfo.endCursor).catch((e) => more.replaceChildren(errorBox("Next page", e))) }, "load more"));
    }
    return d;
  }

  function addRow(x) {
    const detail = h("tr", { class: "detail", hidden: true }, h("td", { colspan: 8 }, details(x)));
    const act = h("td", { class: "nowrap" });
    const setButtons = (st) => {
      clear(act);
      if (st === "open") act.append(h("button", { class: "btn btn-small", type: "button", "data-action": "ack", onclick: (ev) => { ev.stopPropagation(); mutate(ACK, "acknowledgeDrift"); } }, "ack"), " ");
      if (st !== "resolved") act.append(h("button", { class: "btn btn-small", type: "button", "data-action": "resolve", onclick: (ev) => { ev.stopPropagation(); mutate(RESOLVE, "resolveDrift"); } }, "resolve"));
    };
    const stCell = h("td", {}, badge(x.status));
    async function mutate(q, field) {
      try {
        const d = (await gql(q, { id: x.id }))[field];
        stCell.replaceChildren(badge(d.status)); setButtons(d.status);
        toast(`drift ${shortId(x.id)}: ${d.status}`);
      } catch (e) {
        toast(e.kind === "missing" ? `not available from this engine: ${e.message}` : `failed: ${e.message}`, "crit");
      }
    }
    setButtons(x.status);
    const row = h("tr", { class: "nav-row", tabindex: 0, "data-drift": x.id, onclick: () => { detail.hidden = !detail.hidden; } },
      h("td", {}, badge(x.severity)), stCell, h("td", {}, kindBadge(x.kind)),
      h("td", { class: "ellipsis", title: x.resourceId },
        h("a", { href: resHref(x.resourceId), onclick: (ev) => ev.stopPropagation() }, x.terraformAddress || shortId(x.resourceId)),
        h("div", { class: "muted small" }, x.resourceType)),
      h("td", { class: "small" }, x.diffs.length ? x.diffs.slice(0, 3).map((d) => d.path).join(", ") + (x.diffs.length > 3 ? ` +${x.diffs.length - 3}` : "") : "—"),
      h("td", { class: "ellipsis" }, x.cause
        ? [h("b", {}, principalEl(x.cause.principal)), writersMore(x),
          h("div", { class: "muted small" }, `${x.cause.eventName || "?"} · ${x.cause.channel || "?"}`)]
        : h("span", { class: "muted" }, "not attributed")),
      h("td", { class: "nowrap" }, timeEl(x.detectedAt)), act);
    tbody.append(row, detail);
  }

  fill(body, "Drift events", async () => {
    const d = await page(null);
    if (!d.edges.length) return emptyBox(`no drift events${sev ? ` of severity ${sev}` : ""}${status ? ` with status ${status}` : ""} — DeepDrift reports drift here`);
    return h("div", {}, h("table", { class: "t" },
      h("thead", {}, h("tr", {}, ["sev", "status", "kind", "resource", "attributes", "who (CloudTrail)", "detected", ""].map((t) => h("th", {}, t)))),
      tbody), more, h("div", { class: "muted small pad" }, "click a row for the diff, cause and remediation; j/k + Enter work too"));
  });
}

// a drift whose paths were set by several people names them all (the row shows the most severe one first)
function writers(x) {
  return [...new Set((x.diffs || []).map((d) => d.cause && d.cause.principal).filter(Boolean))];
}

function writersMore(x) {
  const others = writers(x).filter((p) => p !== x.cause.principal);
  return others.length ? h("span", { class: "muted small", "data-writers": writers(x).join(" ") }, ` +${others.length} other writer${others.length > 1 ? "s" : ""}`) : "";
}

function details(x) {
  const c = x.cause;
  return h("div", { class: "grid grid-2" },
    h("div", {}, h("h3", {}, "Expected vs actual"), diffTable(x.diffs)),
    h("div", {},
      h("h3", {}, "Cause (the write behind the most severe attribute)"),
      c ? h("dl", { class: "kv" },
        h("dt", {}, "principal"), h("dd", {}, c.principal || "—"), h("dt", {}, "event"), h("dd", {}, c.eventName || "—"),
        h("dt", {}, "time"), h("dd", {}, fmtTime(c.eventTime)), h("dt", {}, "channel"), h("dd", {}, c.channel || "—"),
        h("dt", {}, "source ip"), h("dd", {}, c.sourceIp || "—"), h("dt", {}, "event id"), h("dd", {}, c.eventId || "—"))
        : emptyBox("no CloudTrail record explains this drift (out of the trail window, or made outside AWS APIs)"),
      h("h3", { style: "margin-top:10px" }, "Remediation"),
      x.remediation == null ? emptyBox("none suggested") : h("pre", { class: "code" }, jsonText(x.remediation)),
      h("div", { class: "muted small" }, `drift id ${x.id} · detected ${fmtTime(x.detectedAt)}`, x.resolvedAt ? ` · resolved ${fmtTime(x.resolvedAt)}` : "")));
}
