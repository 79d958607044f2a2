// The REST API as the dashboard uses it: every call carries the signed-in token,
// and every refusal becomes an ApiError holding the problem+json body, so a view
// can show its title and detail instead of swallowing it.

export class ApiError extends Error {
  constructor(status, problem, retryAfter = null) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.retryAfter = retryAfter;
  }
}

async function problemOf(response) {
  try {
    const body = await response.json();
    if (body && typeof body === "object") return body;
  } catch {
    // Not JSON (a proxy's error page): fall through to the status line.
  }
  return { title: response.statusText || "Error", detail: `HTTP ${response.status}` };
}

async function call(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, { title: "Relay is unreachable", detail: String(error.message || error) });
  }
  if (!response.ok) {
    throw new ApiError(response.status, await problemOf(response), response.headers.get("retry-after"));
  }
  return response;
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  url(path, query = {}) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    return url;
  }

  async response(method, path, { body, query, headers } = {}) {
    const init = { method, headers: { Authorization: `Bearer ${this.token}`, ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return call(this.url(path, query), init);
  }

  async request(method, path, options = {}) {
    const response = await this.response(method, path, options);
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }

  post(path, body, headers) {
    return this.request("POST", path, { body, headers });
  }

  patch(path, body) {
    return this.request("PATCH", path, { body });
  }

  delete(path) {
    return this.request("DELETE", path);
  }

  async blob(path, query) {
    return (await this.response("GET", path, { query })).blob();
  }

  // Every page of a list, up to `most` items (the overview's counts).
  async all(path, query = {}, most = 5000) {
    const items = [];
    let cursor = null;
    do {
      const page = await this.get(path, { ...query, limit: 1000, cursor });
      items.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor && items.length < most);
    return items;
  }
}

// An API key is exchanged for a short-lived JWT and forgotten: only the JWT stays,
// in memory. The admin token has no JWT; it is kept in memory as it is.
export async function signIn(secret) {
  if (secret.startsWith("rk_")) {
    const response = await call(new URL("/v1/auth/token", window.location.origin), {
      method: "POST",
      headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/json" },
      body: JSON.stringify({ ttl_seconds: 3600 }),
    });
    const issued = await response.json();
    return { api: new Api(issued.token), role: "tenant", expiresAt: issued.expires_at };
  }
  const api = new Api(secret);
  try {
    await api.get("/v1/tenants", { limit: 1 });
    return { api, role: "admin", expiresAt: null };
  } catch (error) {
    // 403 on an admin route: a valid tenant token (a JWT pasted as it is).
    if (error instanceof ApiError && error.status === 403) return { api, role: "tenant", expiresAt: null };
    throw error;
  }
}
