/* SPDX-License-Identifier: MIT */
/*
 * RFC 9457 problem details: every error a client sees is one of a fixed set
 * of kinds, each with a stable type URI, and names the offending field as a
 * JSON pointer where there is one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

static const struct {
	const char *slug;
	const char *title;
} kinds[API_P_COUNT] = {
    [API_P_BAD_JSON] = {"malformed-json", "Malformed JSON"},
    [API_P_INVALID] = {"invalid-field", "Invalid field"},
    [API_P_TOO_LARGE] = {"body-too-large", "Request body too large"},
    [API_P_UNAUTHORIZED] = {"unauthorized", "Missing or invalid token"},
    [API_P_TOKEN_EXPIRED] = {"token-expired", "Token expired"},
    [API_P_FORBIDDEN] = {"forbidden", "Not allowed for this token"},
    [API_P_NOT_FOUND] = {"not-found", "Not found"},
    [API_P_METHOD] = {"method-not-allowed", "Method not allowed"},
    [API_P_CONFLICT] = {"conflict", "Conflict"},
    [API_P_PRECONDITION] = {"precondition-failed", "Stale If-Match"},
    [API_P_IDEMPOTENCY] = {"idempotency-key-reused", "Idempotency-Key reused with another body"},
    [API_P_NO_CAPACITY] = {"no-host", "No host can take the guest"},
    [API_P_MEDIA_TYPE] = {"unsupported-media-type", "Unsupported media type"},
    [API_P_UNAVAILABLE] = {"unavailable", "Service unavailable"},
    [API_P_STORAGE] = {"insufficient-storage", "The store's disk is full"},
    [API_P_INTERNAL] = {"internal", "Internal error"},
};

int api_problem(struct api_resp *rs, unsigned status, enum api_problem kind, const char *field,
		const char *fmt, ...)
{
	char detail[PVM_ERR_MSG_MAX];
	char type[96];
	json_object *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (kind >= API_P_COUNT)
		kind = API_P_INTERNAL;
	snprintf(type, sizeof(type), API_PROBLEM_BASE "%s", kinds[kind].slug);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "title", json_object_new_string(kinds[kind].title));
	json_object_object_add(o, "status", json_object_new_int((int)status));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	if (field)
		json_object_object_add(o, "field", json_object_new_string(field));
	json_object_put(rs->body);
	rs->body = o;
	rs->status = status;
	rs->content_type = "application/problem+json";
	rs->etag[0] = '\0';
	rs->location[0] = '\0';
	return 0;
}

int api_problem_err(struct api_resp *rs, const struct pvm_err *err)
{
	if (err->code == -E2BIG)
		return api_problem(rs, 413, API_P_TOO_LARGE, err->field, "%s", err->msg);
	return api_problem(rs, 400, API_P_INVALID, err->field, "%s", err->msg);
}

int api_json(struct api_resp *rs, unsigned status, json_object *body)
{
	json_object_put(rs->body);
	rs->body = body;
	rs->status = status;
	rs->content_type = NULL;
	return 0;
}

int api_body_parse(struct api_req *rq, struct api_resp *rs, const struct pvm_json_field *fields,
		   size_t nfields, json_object **out)
{
	struct pvm_json_limits lim = pvm_json_default_limits;
	struct pvm_err err = {0};
	json_object *obj = NULL;
	int ret;

	*out = NULL;
	lim.max_bytes = rq->srv->cfg.body_limit;
	ret = pvm_json_parse(rq->body.data ? rq->body.data : "", rq->body.len, &lim, &obj, &err);
	if (ret < 0) {
		if (ret == -E2BIG)
			api_problem(rs, 413, API_P_TOO_LARGE, "", "%s", err.msg);
		else
			api_problem(rs, 400, API_P_BAD_JSON, err.field, "%s", err.msg);
		return ret;
	}
	ret = pvm_json_check(obj, "", fields, nfields, &err);
	if (ret < 0) {
		api_problem_err(rs, &err);
		json_object_put(obj);
		return ret;
	}
	*out = obj;
	return 0;
}

const char *api_header(struct api_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *api_query(struct api_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

int api_query_u64(struct api_req *rq, struct api_resp *rs, const char *name, uint64_t def,
		  uint64_t max, uint64_t *out)
{
	const char *v = api_query(rq, name);
	char ptr[64];
	int64_t x;

	*out = def;
	if (!v)
		return 0;
	if (pvm_parse_int(v, 0, (int64_t)(max > INT64_MAX ? INT64_MAX : max), &x) < 0) {
		snprintf(ptr, sizeof(ptr), "?%s", name);
		api_problem(rs, 400, API_P_INVALID, ptr,
			    "query parameter %s must be an integer between 0 and %llu", name,
			    (unsigned long long)max);
		return -EINVAL;
	}
	*out = (uint64_t)x;
	return 0;
}

int api_query_wait(struct api_req *rq, struct api_resp *rs, uint64_t *deadline_ns)
{
	uint64_t wait;
	int ret = api_query_u64(rq, rs, "wait", 0, rq->srv->cfg.max_wait_s, &wait);

	if (ret < 0)
		return ret;
	*deadline_ns = pvm_now_ns() + wait * 1000000000ull;
	return 0;
}
