// GraphQL over HTTP to the engine (through the UI's same-origin proxy), with honest error kinds.

const TOKEN_KEY = "airdig.token";

export function getToken() { return localStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(t) { t ? localStorage.setItem(TOKEN_KEY, t) : localStorage.removeItem(TOKEN_KEY); }

/** An error the views can explain: kind is one of
 *  "missing" (the engine has no such field yet), "auth", "unreachable", "graphql", "http". */
export class ApiError extends Error {
  constructor(kind, message, status) { super(message); this.kind = kind; this.status = status; }
}

const MISSING = /Cannot query field|Unknown argument|Unknown type/;

export async function gql(query, variables = {}, { signal } = {}) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }), signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError("unreachable", `UI server unreachable: ${e.message}`);
  }
  let body = null;
  performance.mark("gql:response");
  try { body = await res.json(); performance.mark("gql:parsed"); } catch { /* non-JSON answer, reported below */ }
  if (res.status === 401 || res.status === 403) {
    const m = firstMessage(body) || `HTTP ${res.status}`;
    throw new ApiError("auth", `the engine refused the request (${m}); set an API token with the "token" button (t)`, res.status);
  }
  if (res.status === 502 || res.status === 504) {
    throw new ApiError("unreachable", firstMessage(body) || `engine unreachable (HTTP ${res.status})`, res.status);
  }
  if (!body) throw new ApiError("http", `engine answered HTTP ${res.status} without a JSON body`, res.status);
  if (body.errors && body.errors.length) {
    const msg = body.errors.map((e) => e.message).join("; ");
    const code = body.errors[0].extensions && body.errors[0].extensions.code;
    if (code === "UNAUTHENTICATED" || code === "FORBIDDEN") throw new ApiError("auth", msg, res.status);
    if (MISSING.test(msg) && !body.data) throw new ApiError("missing", msg, res.status);
    const err = new ApiError("graphql", msg, res.status);
    err.data = body.data;
    throw err;
  }
  if (!res.ok) throw new ApiError("http", `engine answered HTTP ${res.status}`, res.status);
  return body.data;
}

function firstMessage(body) {
  if (!body) return "";
  if (body.errors && body.errors[0]) return body.errors[0].message;
  if (body.error) return body.error.message || String(body.error);
  return "";
}

/** The fields Query/Mutation/Subscription expose, from introspection (cached for the page's life). */
let rootFields = null;
export async function engineFields() {
  if (!rootFields) {
    rootFields = gql(`{ __schema { queryType { fields { name } } mutationType { fields { name } }
      subscriptionType { fields { name } } } }`).then((d) => {
      const s = d.__schema, names = (t) => new Set(t ? t.fields.map((f) => f.name) : []);
      return { query: names(s.queryType), mutation: names(s.mutationType), subscription: names(s.subscriptionType) };
    }).catch((e) => { rootFields = null; throw e; });
  }
  return rootFields;
}
