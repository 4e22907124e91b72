/* SPDX-License-Identifier: MIT */
/* Helpers every resource handler shares: store errors, ETags, paging. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "store/store.h"

int api_store_problem(struct api_resp *rs, int ret, const struct pvm_err *err)
{
	switch (ret) {
	case -ENOENT:
		return api_problem(rs, 404, API_P_NOT_FOUND, NULL, "%s", err->msg);
	case -EEXIST:
		return api_problem(rs, 409, API_P_CONFLICT, "/name", "%s", err->msg);
	case -EBUSY:
		return api_problem(rs, 409, API_P_CONFLICT, NULL, "%s", err->msg);
	case -ESTALE:
		return api_problem(rs, 412, API_P_PRECONDITION, NULL,
				   "the resource changed since it was read: %s", err->msg);
	case -ENOSPC:
		return api_problem(rs, 409, API_P_NO_CAPACITY, NULL, "%s", err->msg);
	case -EINVAL:
		return api_problem(rs, 400, API_P_INVALID, err->field[0] ? err->field : NULL, "%s",
				   err->msg);
	case -EDQUOT:
		/* Nothing was written; the same request succeeds once space returns. */
		pvm_log_error("api: store: %s", err->msg);
		return api_problem(rs, 507, API_P_STORAGE, NULL, "%s", err->msg);
	default:
		pvm_log_error("api: store: %s", err->msg);
		return api_problem(rs, 503, API_P_UNAVAILABLE, NULL, "the store failed: %s",
				   err->msg);
	}
}

int api_if_match(struct api_req *rq, struct api_resp *rs, int64_t *gen)
{
	const char *h = api_header(rq, MHD_HTTP_HEADER_IF_MATCH);
	char num[24];
	size_t len;

	*gen = 0;
	if (!h || strcmp(h, "*") == 0)
		return 0;
	/* If-Match compares strongly (RFC 9110 13.1.1): a weak tag never matches. */
	if (strncmp(h, "W/", 2) == 0) {
		api_problem(rs, 412, API_P_PRECONDITION, NULL,
			    "If-Match %s is a weak entity tag: it never matches", h);
		return -EINVAL;
	}
	len = strlen(h);
	if (len < 3 || len - 2 >= sizeof(num) || h[0] != '"' || h[len - 1] != '"')
		goto bad;
	memcpy(num, h + 1, len - 2);
	num[len - 2] = '\0';
	if (pvm_parse_int(num, 1, INT64_MAX, gen) < 0)
		goto bad;
	return 0;
bad:
	api_problem(rs, 400, API_P_INVALID, NULL,
		    "If-Match must be an ETag this server gave (\"N\") or *");
	return -EINVAL;
}

void api_set_etag(struct api_resp *rs, int64_t gen)
{
	snprintf(rs->etag, sizeof(rs->etag), "%lld", (long long)gen);
}

const char *api_rfc3339(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	char sec[24];
	time_t t;

	if (ms < 0)
		ms = 0;
	t = (time_t)(ms / 1000);
	if (!gmtime_r(&t, &tm) || !strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(sec, sizeof(sec), "1970-01-01T00:00:00");
	snprintf(buf, len, "%s.%03dZ", sec, (int)(ms % 1000));
	return buf;
}

int api_page_opts(struct api_req *rq, struct api_resp *rs, struct store_list_opts *opts)
{
	size_t toklen = 0;
	const char *tok = NULL;
	uint64_t limit;
	int ret;

	ret = api_query_u64(rq, rs, "limit", STORE_LIST_DEFAULT, STORE_LIST_MAX, &limit);
	if (ret < 0)
		return ret;
	if (limit == 0) {
		api_problem(rs, 400, API_P_INVALID, "?limit",
			    "query parameter limit must be between 1 and %d", STORE_LIST_MAX);
		return -EINVAL;
	}
	/* The length MHD decoded, so "%00garbage" is not taken for "". */
	if (MHD_lookup_connection_value_n(rq->conn, MHD_GET_ARGUMENT_KIND, "page_token",
					  strlen("page_token"), &tok, &toklen) != MHD_YES)
		tok = NULL;
	if (tok && (toklen != strlen(tok) || strlen(tok) >= STORE_ID_MAX ||
		    strspn(tok, "abcdefghijklmnopqrstuvwxyz"
				"0123456789_") != strlen(tok))) {
		api_problem(rs, 400, API_P_INVALID, "?page_token", "invalid page_token");
		return -EINVAL;
	}
	opts->limit = (size_t)limit;
	opts->after = tok;
	return 0;
}

json_object *api_page_answer(json_object *items, const char *next)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "items", items);
	json_object_object_add(o, "next_page_token",
			       next && *next ? json_object_new_string(next) : NULL);
	return o;
}

json_object *api_json_text(const char *text)
{
	json_object *o = text ? json_tokener_parse(text) : NULL;

	return o ? o : json_object_new_object();
}

char *api_json_dup(json_object *obj)
{
	return strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
}
