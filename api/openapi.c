/* SPDX-License-Identifier: MIT */
/*
 * GET /v1/openapi.json: generated from the route table and the very schema
 * tables that validate request bodies, so it cannot drift from the server.
 */
#include <ctype.h>
#include <string.h>

#include "api/handlers.h"

static const struct {
	const char *name;
	const struct pvm_json_field *fields;
	const size_t *n;
} schemas[] = {
    {"GuestSpec", api_spec_fields, &api_nspec_fields},
    {"GuestPatch", api_guest_patch_fields, &api_nguest_patch_fields},
    {"GuestReport", api_report_fields, &api_nreport_fields},
    {"HostRegister", api_host_register_fields, &api_nhost_register_fields},
    {"Heartbeat", api_heartbeat_fields, &api_nheartbeat_fields},
    {"HostPatch", api_host_patch_fields, &api_nhost_patch_fields},
    {"Image", api_image_fields, &api_nimage_fields},
    {"TokenCreate", api_token_fields, &api_ntoken_fields},
    {"Rebalance", api_rebalance_fields, &api_nrebalance_fields},
};

static json_object *object_schema(const struct pvm_json_field *fields, size_t n,
				  const struct pvm_json_field *more, size_t nmore);

static json_object *enum_of(const struct pvm_json_field *f)
{
	json_object *e = json_object_new_array();
	const char *n;

	for (unsigned i = 0; (n = f->name_of(i)); i++)
		json_object_array_add(e, json_object_new_string(n));
	if (f->nullable)
		json_object_array_add(e, NULL);
	return e;
}

/* One field as JSON Schema (2020-12, as OpenAPI 3.1 has it): every rule the
 * table states, so the document says what pvm_json_check enforces. */
static json_object *field_schema(const struct pvm_json_field *f)
{
	static const char *const types[] = {
	    [PVM_JSON_STRING] = "string", [PVM_JSON_INT] = "integer",
	    [PVM_JSON_DOUBLE] = "number", [PVM_JSON_BOOL] = "boolean",
	    [PVM_JSON_OBJECT] = "object", [PVM_JSON_ARRAY] = "array",
	};
	json_object *o;

	if (f->type == PVM_JSON_OBJECT && f->fields)
		o = object_schema(f->fields, f->nfields, NULL, 0);
	else
		o = json_object_new_object();
	if (f->nullable) {
		json_object *t = json_object_new_array();

		json_object_array_add(t, json_object_new_string(types[f->type]));
		json_object_array_add(t, json_object_new_string("null"));
		json_object_object_add(o, "type", t);
	} else {
		json_object_object_add(o, "type", json_object_new_string(types[f->type]));
	}
	switch (f->type) {
	case PVM_JSON_INT:
		if (f->min != INT64_MIN)
			json_object_object_add(o, "minimum", json_object_new_int64(f->min));
		if (f->max != INT64_MAX)
			json_object_object_add(o, "maximum", json_object_new_int64(f->max));
		break;
	case PVM_JSON_STRING:
		if (f->min_len)
			json_object_object_add(o, "minLength",
					       json_object_new_int64((int64_t)f->min_len));
		if (f->max_len)
			json_object_object_add(o, "maxLength",
					       json_object_new_int64((int64_t)f->max_len));
		if (f->name_of)
			json_object_object_add(o, "enum", enum_of(f));
		if (f->name_chars)
			json_object_object_add(o, "pattern",
					       json_object_new_string(PVM_JSON_NAME_PATTERN));
		break;
	case PVM_JSON_ARRAY:
		if (f->max_len)
			json_object_object_add(o, "maxItems",
					       json_object_new_int64((int64_t)f->max_len));
		json_object_object_add(o, "items",
				       f->item ? field_schema(f->item) : json_object_new_object());
		if (f->unique)
			json_object_object_add(o, "uniqueItems", json_object_new_boolean(true));
		break;
	default:
		break;
	}
	if (f->doc)
		json_object_object_add(o, "description", json_object_new_string(f->doc));
	return o;
}

static void add_members(json_object *props, json_object *req, const struct pvm_json_field *f,
			size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_object_object_add(props, f[i].name, field_schema(&f[i]));
		if (f[i].required)
			json_object_array_add(req, json_object_new_string(f[i].name));
	}
}

static json_object *object_schema(const struct pvm_json_field *fields, size_t n,
				  const struct pvm_json_field *more, size_t nmore)
{
	json_object *o = json_object_new_object(), *props = json_object_new_object();
	json_object *req = json_object_new_array();

	json_object_object_add(o, "type", json_object_new_string("object"));
	add_members(props, req, fields, n);
	add_members(props, req, more, nmore);
	json_object_object_add(o, "properties", props);
	json_object_object_add(o, "required", req);
	json_object_object_add(o, "additionalProperties", json_object_new_boolean(false));
	return o;
}

static json_object *ref(const char *name)
{
	json_object *o = json_object_new_object();
	char buf[96];

	snprintf(buf, sizeof(buf), "#/components/schemas/%s", name);
	json_object_object_add(o, "$ref", json_object_new_string(buf));
	return o;
}

static json_object *param(const char *name, const char *in, bool required, const char *type)
{
	json_object *p = json_object_new_object(), *s = json_object_new_object();

	json_object_object_add(p, "name", json_object_new_string(name));
	json_object_object_add(p, "in", json_object_new_string(in));
	json_object_object_add(p, "required", json_object_new_boolean(required));
	json_object_object_add(s, "type", json_object_new_string(type));
	json_object_object_add(p, "schema", s);
	return p;
}

static json_object *content(const char *type, json_object *schema)
{
	json_object *c = json_object_new_object(), *m = json_object_new_object();

	json_object_object_add(m, "schema", schema);
	json_object_object_add(c, type, m);
	return c;
}

static bool is_get(const struct api_route *r)
{
	return strcmp(r->method, "GET") == 0;
}

/* An answer of one resource by id carries its generation as ETag. */
static bool has_etag(const struct api_route *r)
{
	static const char *const tagged[] = {"Host", "Guest", "GuestDetail", "Image", "Token"};

	for (size_t i = 0; r->ok_schema && i < PVM_ARRAY_SIZE(tagged); i++)
		if (strcmp(r->ok_schema, tagged[i]) == 0 && !r->has_query_paging)
			return true;
	return false;
}

static json_object *header(const char *what)
{
	json_object *h = json_object_new_object(), *sch = json_object_new_object();

	json_object_object_add(sch, "type", json_object_new_string("string"));
	json_object_object_add(h, "schema", sch);
	json_object_object_add(h, "description", json_object_new_string(what));
	return h;
}

static json_object *page_name(const char *item, char *buf, size_t len)
{
	snprintf(buf, len, "%sPage", item);
	return ref(buf);
}

/* The success answer: its body (none for HEAD) and headers. */
static json_object *ok_response(const struct api_route *r, bool head)
{
	json_object *ok = json_object_new_object(), *hdrs = json_object_new_object();
	json_object *c = NULL, *str;
	char page[64];

	json_object_object_add(ok, "description", json_object_new_string("success"));
	if (r->ok_schema && strchr(r->ok_schema, '/')) {
		str = json_object_new_object();
		json_object_object_add(
		    str, "type",
		    json_object_new_string(strstr(r->ok_schema, "json") ? "object" : "string"));
		c = content(r->ok_schema, str);
	} else if (r->ok_schema) {
		c = content("application/json", r->has_query_paging
						    ? page_name(r->ok_schema, page, sizeof(page))
						    : ref(r->ok_schema));
	}
	if (c && r->has_query_wait && strcmp(r->pattern, "/v1/events") == 0) {
		json_object *m = json_object_new_object(), *sse = json_object_new_object();

		json_object_object_add(sse, "type", json_object_new_string("string"));
		json_object_object_add(
		    sse, "description",
		    json_object_new_string("with Accept: text/event-stream: one SSE event per "
					   "Event (id: its seq, data: the Event as JSON)"));
		json_object_object_add(m, "schema", sse);
		json_object_object_add(c, "text/event-stream", m);
	}
	if (c && !head)
		json_object_object_add(ok, "content", c);
	else
		json_object_put(c);
	if (has_etag(r))
		json_object_object_add(hdrs, "ETag",
				       header("the generation, quoted: If-Match takes it"));
	if (r->ok_status == 201)
		json_object_object_add(hdrs, "Location", header("the new resource's path"));
	if (json_object_object_length(hdrs))
		json_object_object_add(ok, "headers", hdrs);
	else
		json_object_put(hdrs);
	return ok;
}

static void add_error(json_object *resp, unsigned code, const char *what)
{
	json_object *e = json_object_new_object();
	char key[8];

	snprintf(key, sizeof(key), "%u", code);
	json_object_object_add(e, "description", json_object_new_string(what));
	json_object_object_add(e, "content", content("application/problem+json", ref("Problem")));
	json_object_object_add(resp, key, e);
}

/* The errors a route can answer, from what the route takes. */
static void add_errors(json_object *resp, const struct api_route *r)
{
	bool write = !is_get(r);

	if (r->body_schema || r->has_query_paging || r->has_query_wait)
		add_error(resp, 400,
			  "malformed JSON, an unknown field, a value out of range "
			  "(problem field names it), or a bad query parameter");
	if (r->roles != API_ROLE_PUBLIC) {
		add_error(resp, 401, "no, unknown, revoked or expired bearer token");
		add_error(resp, 403, "the token's role may not do this");
	}
	if (strstr(r->pattern, "{id}"))
		add_error(resp, 404, "no such resource");
	if (write && (strstr(r->pattern, "{id}") || r->ok_status == 201))
		add_error(resp, 409,
			  "a conflict: a name taken, a host still holding guests, a "
			  "follower asked to write");
	if (strcmp(r->method, "PATCH") == 0 || strcmp(r->method, "DELETE") == 0)
		add_error(resp, 412, "If-Match names another generation, or a weak ETag");
	if (r->body_schema) {
		add_error(resp, 413, "the body exceeds the body limit");
		add_error(resp, 415, "a body that is not application/json");
	}
	if (strcmp(r->pattern, "/v1/guests") == 0 && r->ok_status == 201)
		add_error(resp, 422, "Idempotency-Key first used with another request");
	if (write)
		add_error(resp, 507,
			  "the store's disk is full: nothing was written; retry once "
			  "space returns");
	add_error(resp, 503, "the store or the controller cannot answer now (Retry-After)");
}

static json_object *operation(const struct api_route *r, bool head)
{
	json_object *op = json_object_new_object(), *params = json_object_new_array();
	json_object *resp = json_object_new_object(), *def = json_object_new_object();
	json_object *tags = json_object_new_array(), *roles = json_object_new_array();
	char opid[128], code[8];
	size_t n = 0;

	for (const char *p = head ? "head" : r->method; *p && n < sizeof(opid) - 1; p++)
		opid[n++] = (char)tolower((unsigned char)*p);
	for (const char *p = r->pattern; *p && n < sizeof(opid) - 1; p++)
		opid[n++] = isalnum((unsigned char)*p) ? *p : '_';
	opid[n] = '\0';
	json_object_object_add(op, "operationId", json_object_new_string(opid));
	json_object_object_add(op, "summary", json_object_new_string(r->summary));
	if (head)
		json_object_object_add(op, "description",
				       json_object_new_string("as GET, without the body"));
	json_object_array_add(tags, json_object_new_string(r->tag));
	json_object_object_add(op, "tags", tags);
	if (strstr(r->pattern, "{id}"))
		json_object_array_add(params, param("id", "path", true, "string"));
	if (r->has_query_paging) {
		json_object_array_add(params, param("limit", "query", false, "integer"));
		json_object_array_add(params, param("page_token", "query", false, "string"));
	}
	if (r->has_query_wait) {
		json_object_array_add(params, param("since", "query", false, "integer"));
		json_object_array_add(params, param("wait", "query", false, "integer"));
	}
	if (strcmp(r->pattern, "/v1/events") == 0)
		json_object_array_add(params, param("Last-Event-ID", "header", false, "integer"));
	if (strcmp(r->method, "PATCH") == 0 || strcmp(r->method, "DELETE") == 0)
		json_object_array_add(params, param("If-Match", "header", false, "string"));
	if (has_etag(r) && is_get(r))
		json_object_array_add(params, param("If-None-Match", "header", false, "string"));
	if (strcmp(r->pattern, "/v1/guests") == 0 && r->ok_status == 201)
		json_object_array_add(params, param("Idempotency-Key", "header", false, "string"));
	json_object_object_add(op, "parameters", params);
	if (r->body_schema) {
		json_object *rb = json_object_new_object();

		json_object_object_add(rb, "required", json_object_new_boolean(true));
		json_object_object_add(rb, "content",
				       content("application/json", ref(r->body_schema)));
		json_object_object_add(op, "requestBody", rb);
	}
	snprintf(code, sizeof(code), "%u", r->ok_status);
	json_object_object_add(resp, code, ok_response(r, head));
	if (has_etag(r) && is_get(r)) {
		json_object *nm = json_object_new_object();

		json_object_object_add(
		    nm, "description",
		    json_object_new_string("If-None-Match named its ETag: not modified, no body"));
		json_object_object_add(resp, "304", nm);
	}
	add_errors(resp, r);
	json_object_object_add(def, "description", json_object_new_string("an RFC 9457 problem"));
	json_object_object_add(def, "content", content("application/problem+json", ref("Problem")));
	json_object_object_add(resp, "default", def);
	json_object_object_add(op, "responses", resp);
	if (r->roles == API_ROLE_PUBLIC) {
		json_object_object_add(op, "security", json_object_new_array());
	} else {
		for (unsigned b = 1; b <= API_ROLE_HOST; b <<= 1)
			if (r->roles & b)
				json_object_array_add(roles,
						      json_object_new_string(api_role_name(b)));
	}
	json_object_object_add(op, "x-pvm-roles", roles);
	return op;
}

/* {items: [Item], next_page_token}: what every paged list answers (api_page_answer). */
static json_object *page_schema(const char *item)
{
	json_object *o = json_object_new_object(), *props = json_object_new_object();
	json_object *req = json_object_new_array(), *items = json_object_new_object();
	json_object *next = json_object_new_object(), *t = json_object_new_array();

	json_object_object_add(items, "type", json_object_new_string("array"));
	json_object_object_add(items, "items", ref(item));
	json_object_array_add(t, json_object_new_string("string"));
	json_object_array_add(t, json_object_new_string("null"));
	json_object_object_add(next, "type", t);
	json_object_object_add(
	    next, "description",
	    json_object_new_string("the next page's page_token; null: the last"));
	json_object_object_add(props, "items", items);
	json_object_object_add(props, "next_page_token", next);
	json_object_array_add(req, json_object_new_string("items"));
	json_object_array_add(req, json_object_new_string("next_page_token"));
	json_object_object_add(o, "type", json_object_new_string("object"));
	json_object_object_add(o, "properties", props);
	json_object_object_add(o, "required", req);
	json_object_object_add(o, "additionalProperties", json_object_new_boolean(false));
	return o;
}

static json_object *method_item(json_object *paths, const char *pattern)
{
	json_object *item = NULL;

	if (!json_object_object_get_ex(paths, pattern, &item)) {
		item = json_object_new_object();
		json_object_object_add(paths, pattern, item);
	}
	return item;
}

static json_object *components(void)
{
	json_object *comp = json_object_new_object(), *sch = json_object_new_object();
	json_object *sec = json_object_new_object(), *bearer = json_object_new_object();
	char page[64];

	for (size_t i = 0; i < PVM_ARRAY_SIZE(schemas); i++)
		json_object_object_add(sch, schemas[i].name,
				       object_schema(schemas[i].fields, *schemas[i].n, NULL, 0));
	for (size_t i = 0; i < api_nanswers; i++) {
		const struct api_answer *a = &api_answers[i];

		json_object_object_add(sch, a->name,
				       object_schema(a->fields, a->nfields, a->more, a->nmore));
	}
	for (size_t i = 0; i < api_nroutes; i++) {
		if (!api_routes[i].has_query_paging)
			continue;
		snprintf(page, sizeof(page), "%sPage", api_routes[i].ok_schema);
		if (!json_object_object_get_ex(sch, page, NULL))
			json_object_object_add(sch, page, page_schema(api_routes[i].ok_schema));
	}
	json_object_object_add(comp, "schemas", sch);
	json_object_object_add(bearer, "type", json_object_new_string("http"));
	json_object_object_add(bearer, "scheme", json_object_new_string("bearer"));
	json_object_object_add(
	    bearer, "description",
	    json_object_new_string(
		"401 problem types: unauthorized (missing, unknown or revoked), "
		"token-expired (WWW-Authenticate: Bearer error=\"invalid_token\", "
		"error_description=\"token expired\")"));
	json_object_object_add(sec, "bearer", bearer);
	json_object_object_add(comp, "securitySchemes", sec);
	return comp;
}

json_object *api_openapi(void)
{
	json_object *doc = json_object_new_object(), *info = json_object_new_object();
	json_object *paths = json_object_new_object(), *servers = json_object_new_array();
	json_object *server = json_object_new_object(), *gsec = json_object_new_array();
	json_object *gsec1 = json_object_new_object();

	json_object_object_add(doc, "openapi", json_object_new_string("3.1.0"));
	json_object_object_add(info, "title", json_object_new_string("pvm control plane"));
	json_object_object_add(info, "version", json_object_new_string(PVM_VERSION));
	json_object_object_add(doc, "info", info);
	json_object_object_add(server, "url", json_object_new_string("/"));
	json_object_object_add(server, "description",
			       json_object_new_string("the controller that served this document"));
	json_object_array_add(servers, server);
	json_object_object_add(doc, "servers", servers);
	for (size_t i = 0; i < api_nroutes; i++) {
		const struct api_route *r = &api_routes[i];
		json_object *item = method_item(paths, r->pattern);
		char m[8];
		size_t k;

		for (k = 0; r->method[k] && k < sizeof(m) - 1; k++)
			m[k] = (char)tolower((unsigned char)r->method[k]);
		m[k] = '\0';
		json_object_object_add(item, m, operation(r, false));
		if (is_get(r))
			json_object_object_add(item, "head", operation(r, true));
	}
	json_object_object_add(doc, "paths", paths);
	json_object_object_add(doc, "components", components());
	json_object_object_add(gsec1, "bearer", json_object_new_array());
	json_object_array_add(gsec, gsec1);
	json_object_object_add(doc, "security", gsec);
	return doc;
}

int api_h_openapi(struct api_req *rq, struct api_resp *rs)
{
	(void)rq;
	return api_json(rs, 200, api_openapi());
}
