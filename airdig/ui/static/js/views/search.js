// Full search results (Shift+Enter in the search box), or a listing of all resources for an empty query.

import { gql } from "../api.js";
import { h, panel, fill, emptyBox } from "../dom.js";
import { RES_FIELDS, resourceTable } from "./common.js";

export function renderSearch({ root, params, navigate, signal }) {
  const q = (params.get("q") || "").trim();
  const slot = h("div", {});
  root.append(panel(q ? `Search: ${q}` : "All resources", { flush: true, id: "search-page" }, slot));
  fill(slot, "Search", async () => {
    let rows;
    if (q) rows = (await gql(`query($q: String!) { search(query: $q, first: 100) { ${RES_FIELDS} } }`, { q }, { signal })).search;
    else rows = (await gql(`{ resources(first: 100) { edges { node { ${RES_FIELDS} } } } }`, {}, { signal })).resources.edges.map((e) => e.node);
    if (!rows.length) return emptyBox(q ? `nothing matches "${q}" (ids, native ids like i-…, IPs, DNS names, names)` : "the graph is empty: run a SkyGraph scan");
    return resourceTable(rows, navigate, { showReason: true });
  });
}
