// SPDX-License-Identifier: MIT
//
// node check.mjs BASE: validates the OpenAPI document a live pvmd serves with
// a real OpenAPI 3.1 validator, then sends a request to every operation it
// describes and checks each answer (status, media type, headers, body)
// against the document's schema for that status. tests/api/test_openapi.c
// starts the server, fills it and passes the ids and tokens in the
// environment. Exit 0 only when the document is valid, every answer matches
// and every operation was answered with its success status at least once.
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";

const base = process.argv[2];
const env = process.env;
const failures = [];
const answered = new Set(); // "get /v1/hosts/{id}" answered with success

function fail(msg) {
  failures.push(msg);
  console.error("FAIL: " + msg);
}

async function request(method, path, { token = env.ADMIN, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(base + path, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = method === "HEAD" ? "" : await res.text();
  return { status: res.status, headers: res.headers, text };
}

const docRes = await request("GET", "/v1/openapi.json");
const doc = JSON.parse(docRes.text);
const validator = new Validator();
const verdict = await validator.validate(structuredClone(doc));
if (!verdict.valid) fail("the document is not valid OpenAPI: " + JSON.stringify(verdict.errors));

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ $id: "pvm", components: doc.components });

function operationOf(method, path) {
  const bare = path.split("?")[0];
  for (const [tmpl, item] of Object.entries(doc.paths)) {
    const re = new RegExp("^" + tmpl.replace(/\{[^}]+\}/g, "[^/]+") + "$");
    if (re.test(bare) && item[method.toLowerCase()]) return { tmpl, op: item[method.toLowerCase()] };
  }
  return null;
}

function schemaFor(media) {
  // local refs point into components: resolve them through the "pvm" schema
  return JSON.parse(JSON.stringify(media.schema).replaceAll('"#/components/', '"pvm#/components/'));
}

// One request, checked against the document; returns the parsed body.
async function check(method, path, want, opts = {}) {
  const r = await request(method, path, opts);
  const found = operationOf(method, path);
  const what = `${method} ${path}`;
  if (!found) {
    fail(`${what}: no operation in the document`);
    return null;
  }
  if (r.status !== want) fail(`${what}: status ${r.status}, wanted ${want}: ${r.text.slice(0, 300)}`);
  const resp = found.op.responses[String(r.status)] ?? found.op.responses.default;
  if (!resp) {
    fail(`${what}: status ${r.status} is not in the document`);
    return null;
  }
  for (const name of Object.keys(resp.headers ?? {}))
    if (!r.headers.get(name)) fail(`${what}: the document promises header ${name}`);
  const ctype = (r.headers.get("content-type") ?? "").split(";")[0].trim();
  let body = null;
  if (method === "HEAD" || r.status === 204 || r.status === 304) {
    if (r.text.length) fail(`${what}: a ${r.status} with a body`);
  } else if (!resp.content) {
    fail(`${what}: a body the document does not describe`);
  } else {
    const key = Object.keys(resp.content).find((k) => k.split(";")[0].trim() === ctype);
    if (!key) fail(`${what}: content type ${ctype} is not in the document`);
    else if (ctype.endsWith("json")) {
      body = JSON.parse(r.text);
      const validate = ajv.compile(schemaFor(resp.content[key]));
      if (!validate(body))
        fail(`${what}: the answer does not match its schema: ${ajv.errorsText(validate.errors)}\n${r.text.slice(0, 600)}`);
    }
  }
  if (r.status === want && want < 300) answered.add(`${method.toLowerCase()} ${found.tmpl}`);
  return body;
}

const G = env.GUEST_ID, H = env.HOST_ID, I = env.IMAGE_ID, T = env.TOKEN_ID;
const host = { token: env.HOST_TOKEN };

for (const p of ["/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/v1/version",
                 "/v1/tokens", `/v1/tokens/${T}`, "/v1/hosts", `/v1/hosts/${H}`,
                 "/v1/guests", `/v1/guests/${G}`, "/v1/images", `/v1/images/${I}`,
                 "/v1/events?since=0&wait=0"]) {
  await check("GET", p, 200);
  await check("HEAD", p, 200);
}
await check("GET", `/v1/hosts/${H}/assignments?since=0&wait=0`, 200, host);
await check("HEAD", `/v1/hosts/${H}/assignments?since=0&wait=0`, 200, host);
const guest = await check("GET", `/v1/guests/${G}`, 200);
if (guest && guest.hook_stats.length === 0) fail("the filled guest has no hook_stats to check");
await check("GET", `/v1/guests/${G}`, 304, { headers: { "If-None-Match": `"${guest?.generation}"` } });

await check("POST", "/v1/tokens", 201, { body: { name: "probe", role: "reader", ttl_s: 3600 } });
const tok2 = await check("POST", "/v1/tokens", 201, { body: { name: "gone", role: "reader" } });
await check("DELETE", `/v1/tokens/${tok2?.id}`, 204);
const h2 = await check("POST", "/v1/hosts", 201, { body: { name: "spare", cpus: 2, memory_mib: 1024 } });
await check("PATCH", `/v1/hosts/${h2?.id}`, 200, { body: { cordoned: true, labels: { zone: "b" } } });
await check("DELETE", `/v1/hosts/${h2?.id}`, 204);
await check("POST", `/v1/hosts/${H}/heartbeat`, 200, {
  ...host,
  body: { hooks: [{ name: "console", abi_version: 1 }], abi_versions: [1], emulation: true,
          drivers: ["hv"], platforms: ["process"] },
});
const spec = { name: "probe-1", image: "console.elf", vcpus: 1, memory_mib: 64,
               pv: { hooks_required: ["console"] } };
const g2 = await check("POST", "/v1/guests", 201, { body: spec, headers: { "Idempotency-Key": "k1" } });
await check("POST", "/v1/guests", 201, { body: spec, headers: { "Idempotency-Key": "k1" } });
await check("PATCH", `/v1/guests/${g2?.id}`, 200, { body: { desired_state: "stopped" } });
await check("DELETE", `/v1/guests/${g2?.id}`, 204);
await check("POST", `/v1/guests/${G}/reports`, 200, { ...host, body: { observed_state: "running" } });
const im2 = await check("POST", "/v1/images", 201, {
  body: { name: "probe-img", format: "elf", source: "/var/lib/pvm/images/x.elf", size_bytes: 4096 },
});
await check("DELETE", `/v1/images/${im2?.id}`, 204);
await check("POST", "/v1/placements/explain", 200, { body: { ...spec, name: "what-if" } });
await check("POST", "/v1/rebalance", 200, { body: { apply: false, max_moves: 3 } });

// Errors answer as the document says, too.
await check("GET", "/v1/guests/gst_nope", 404);
await check("POST", "/v1/guests", 400, { body: { ...spec, kind: "zone" } });
await check("PATCH", `/v1/guests/${G}`, 412, { body: { desired_state: "running" }, headers: { "If-Match": '"999999"' } });
await check("GET", "/v1/hosts", 401, { token: "" });
await check("POST", "/v1/tokens", 403, { token: env.HOST_TOKEN, body: { name: "x", role: "admin" } });

for (const [tmpl, item] of Object.entries(doc.paths))
  for (const method of Object.keys(item))
    if (!answered.has(`${method} ${tmpl}`)) fail(`${method.toUpperCase()} ${tmpl}: never answered with success`);

const nops = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
console.log(`openapi: ${nops} operations, ${answered.size} answered and matching, ` +
            `${Object.keys(doc.components.schemas).length} schemas, ${failures.length} failures`);
process.exit(failures.length ? 1 : 0);
