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

static json_object *field_schema(const struct pvm_json_field *f)
{
	static const char *const types[] = {
	    [PVM_JSON_STRING] = "string", [PVM_JSON_INT] = "integer",
	    [PVM_JSON_DOUBLE] = "number", [PVM_JSON_BOOL] = "boolean",
	    [PVM_JSON_OBJECT] = "object", [PVM_JSON_ARRAY] = "array",
	};
	json_object *o = json_object_new_object();

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
		json_object_object_add(o, "minimum", json_object_new_int64(f->min));
		json_object_object_add(o, "maximum", json_object_new_int64(f->max));
		break;
	case PVM_JSON_STRING:
		if (f->min_len)
			json_object_object_add(o, "minLength",
					       json_object_new_int64((int64_t)f->min_len));
		if (f->max_len)
			json_object_object_add(o, "maxLength",
					       json_object_new_int64((int64_t)f->max_len));
		break;
	case PVM_JSON_ARRAY:
		if (f->max_len)
			json_object_object_add(o, "maxItems",
					       json_object_new_int64((int64_t)f->max_len));
		break;
	default:
		break;
	}
	return o;
}

static json_object *object_schema(const struct pvm_json_field *fields, size_t n)
{
	json_object *o = json_object_new_object(), *props = json_object_new_object();
	json_object *req = json_object_new_array();

	json_object_object_add(o, "type", json_object_new_string("object"));
	for (size_t i = 0; i < n; i++) {
		json_object_object_add(props, fields[i].name, field_schema(&fields[i]));
		if (fields[i].required)
			json_object_array_add(req, json_object_new_string(fields[i].name));
	}
	json_object_object_add(o, "properties", props);
	json_object_object_add(o, "required", req);
	json_object_object_add(o, "additionalProperties", json_object_new_boolean(false));
	return o;
}

static json_object *problem_schema(void)
{
	static const struct pvm_json_field f[] = {
	    {.name = "type", .type = PVM_JSON_STRING, .required = true},
	    {.name = "title", .type = PVM_JSON_STRING, .required = true},
	    {.name = "status", .type = PVM_JSON_INT, .required = true, .min = 100, .max = 599},
	    {.name = "detail", .type = PVM_JSON_STRING, .required = true},
	    {.name = "field", .type = PVM_JSON_STRING},
	};
	return object_schema(f, PVM_ARRAY_SIZE(f));
}

/* What create and get answer for a token; expires_at is null when it never expires. */
static json_object *token_schema(void)
{
	static const struct pvm_json_field f[] = {
	    {.name = "id", .type = PVM_JSON_STRING, .required = true},
	    {.name = "name", .type = PVM_JSON_STRING, .required = true},
	    {.name = "role", .type = PVM_JSON_STRING, .required = true},
	    {.name = "host_id", .type = PVM_JSON_STRING, .required = true, .nullable = true},
	    {.name = "revoked", .type = PVM_JSON_BOOL, .required = true},
	    {.name = "generation", .type = PVM_JSON_INT, .required = true, .max = INT64_MAX},
	    {.name = "created_ms", .type = PVM_JSON_INT, .required = true, .max = INT64_MAX},
	    {.name = "expires_at", .type = PVM_JSON_STRING, .required = true, .nullable = true},
	    {.name = "secret", .type = PVM_JSON_STRING},
	};
	json_object *o = object_schema(f, PVM_ARRAY_SIZE(f)), *props, *p;

	json_object_object_get_ex(o, "properties", &props);
	json_object_object_get_ex(props, "expires_at", &p);
	json_object_object_add(p, "format", json_object_new_string("date-time"));
	json_object_object_get_ex(props, "secret", &p);
	json_object_object_add(p, "description",
			       json_object_new_string("create only: the secret, shown once"));
	return o;
}

/* The lifetime of a new token, and what happens when it ends. */
static void describe_ttl(json_object *token_create)
{
	json_object *props, *p;

	json_object_object_get_ex(token_create, "properties", &props);
	if (!json_object_object_get_ex(props, "ttl_s", &p))
		return;
	json_object_object_add(
	    p, "description",
	    json_object_new_string("lifetime in seconds (60 s to 10 years); absent: never expires. "
				   "An expired token gets 401 with problem type token-expired"));
}

/* The platform names (common.h's table) as an enum, with what they mean where they stand. */
static json_object *platform_enum(void)
{
	json_object *e = json_object_new_array();

	for (unsigned i = 0; i < PVM_PLATFORM_COUNT; i++)
		json_object_array_add(e, json_object_new_string(pvm_platform_name(i)));
	return e;
}

static void describe_platform(json_object *sch, const char *schema, const char *field, bool list,
			      const char *what)
{
	json_object *o = NULL, *props, *p, *items;

	if (!json_object_object_get_ex(sch, schema, &o) ||
	    !json_object_object_get_ex(o, "properties", &props) ||
	    !json_object_object_get_ex(props, field, &p))
		return;
	if (list) {
		items = json_object_new_object();
		json_object_object_add(items, "type", json_object_new_string("string"));
		json_object_object_add(items, "enum", platform_enum());
		json_object_object_add(p, "items", items);
		json_object_object_add(p, "uniqueItems", json_object_new_boolean(true));
	} else {
		json_object_object_add(p, "enum", platform_enum());
	}
	json_object_object_add(p, "description", json_object_new_string(what));
}

static void describe_platforms(json_object *sch)
{
	describe_platform(sch, "GuestSpec", "platform", false,
			  "the hv platform the guest must run on; absent: any. Only hosts "
			  "offering it take the guest (filter pv). GET answers the platform its "
			  "host runs it on as the guest's top-level \"platform\"");
	describe_platform(sch, "GuestReport", "platform", false,
			  "the platform the guest's VMM runs on (its statistics' \"platform\")");
	describe_platform(sch, "HostRegister", "platforms", true,
			  "the hv platforms the host offers; kept in its capabilities");
	describe_platform(sch, "Heartbeat", "platforms", true,
			  "the hv platforms the host offers; a host that reports none takes no "
			  "guest that requires a platform");
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

static json_object *operation(const struct api_route *r)
{
	json_object *op = json_object_new_object(), *params = json_object_new_array();
	json_object *resp = json_object_new_object(), *ok = json_object_new_object();
	json_object *def = json_object_new_object(), *tags = json_object_new_array();
	json_object *roles = json_object_new_array();
	char opid[128], code[8];
	size_t n = 0;

	for (const char *p = r->method; *p && n < sizeof(opid) - 1; p++)
		opid[n++] = (char)tolower((unsigned char)*p);
	for (const char *p = r->pattern; *p && n < sizeof(opid) - 1; p++)
		opid[n++] = isalnum((unsigned char)*p) ? *p : '_';
	opid[n] = '\0';
	json_object_object_add(op, "operationId", json_object_new_string(opid));
	json_object_object_add(op, "summary", json_object_new_string(r->summary));
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
	if (strcmp(r->method, "PATCH") == 0 || strcmp(r->method, "DELETE") == 0)
		json_object_array_add(params, param("If-Match", "header", false, "string"));
	if (strcmp(r->pattern, "/v1/guests") == 0 && strcmp(r->method, "POST") == 0)
		json_object_array_add(params, param("Idempotency-Key", "header", false, "string"));
	json_object_object_add(op, "parameters", params);
	if (r->body_schema) {
		json_object *rb = json_object_new_object();

		json_object_object_add(rb, "required", json_object_new_boolean(true));
		json_object_object_add(rb, "content",
				       content("application/json", ref(r->body_schema)));
		json_object_object_add(op, "requestBody", rb);
	}
	json_object_object_add(ok, "description", json_object_new_string("success"));
	if (strcmp(r->tag, "tokens") == 0 && strcmp(r->pattern, "/v1/tokens") != 0 &&
	    strcmp(r->method, "GET") == 0)
		json_object_object_add(ok, "content", content("application/json", ref("Token")));
	if (strcmp(r->tag, "tokens") == 0 && strcmp(r->method, "POST") == 0)
		json_object_object_add(ok, "content", content("application/json", ref("Token")));
	snprintf(code, sizeof(code), "%u", r->ok_status);
	json_object_object_add(resp, code, ok);
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

json_object *api_openapi(void)
{
	json_object *doc = json_object_new_object(), *info = json_object_new_object();
	json_object *paths = json_object_new_object(), *comp = json_object_new_object();
	json_object *sch = json_object_new_object(), *sec = json_object_new_object();
	json_object *bearer = json_object_new_object(), *gsec = json_object_new_array();
	json_object *gsec1 = json_object_new_object(), *tc = NULL;

	json_object_object_add(doc, "openapi", json_object_new_string("3.1.0"));
	json_object_object_add(info, "title", json_object_new_string("pvm control plane"));
	json_object_object_add(info, "version", json_object_new_string(PVM_VERSION));
	json_object_object_add(doc, "info", info);
	for (size_t i = 0; i < api_nroutes; i++) {
		const struct api_route *r = &api_routes[i];
		json_object *item = NULL;
		char m[8];
		size_t k;

		if (!json_object_object_get_ex(paths, r->pattern, &item)) {
			item = json_object_new_object();
			json_object_object_add(paths, r->pattern, item);
		}
		for (k = 0; r->method[k] && k < sizeof(m) - 1; k++)
			m[k] = (char)tolower((unsigned char)r->method[k]);
		m[k] = '\0';
		json_object_object_add(item, m, operation(r));
	}
	json_object_object_add(doc, "paths", paths);
	json_object_object_add(sch, "Problem", problem_schema());
	json_object_object_add(sch, "Token", token_schema());
	for (size_t i = 0; i < PVM_ARRAY_SIZE(schemas); i++)
		json_object_object_add(sch, schemas[i].name,
				       object_schema(schemas[i].fields, *schemas[i].n));
	json_object_object_get_ex(sch, "TokenCreate", &tc);
	describe_ttl(tc);
	describe_platforms(sch);
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
	json_object_object_add(doc, "components", comp);
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
