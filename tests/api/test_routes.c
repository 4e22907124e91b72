/* SPDX-License-Identifier: MIT */
/* The happy path of every route, against a real server over a real store. */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "tests/api/harness.h"

#define ID 64

static struct th t;

static void setup(void)
{
	struct api_config c = {.heartbeat_s = 1};

	th_start(&t, &c);
}

static void teardown(void)
{
	th_cleanup(&t);
}

static const char *guest_body(const char *name)
{
	static __thread char b[512];

	snprintf(b, sizeof(b),
		 "{\"name\":\"%s\",\"image\":\"console.elf\",\"vcpus\":1,\"memory_mib\":64,"
		 "\"pv\":{\"hooks_required\":[\"console\"],\"hooks_preferred\":[\"clock\"]}}",
		 name);
	return b;
}

START_TEST(health_and_version)
{
	struct th_resp r;

	th_req(&t, "GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "status"), "ok");
	th_resp_free(&r);
	th_req(&t, "GET", "/readyz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401); /* only /healthz is open */
	th_resp_free(&r);
	th_req(&t, "GET", "/readyz", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "status"), "ready");
	th_resp_free(&r);
	th_req(&t, "GET", "/v1/version", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "api"), "v1");
	th_resp_free(&r);
}
END_TEST

/* The OpenAPI document and the router describe the same routes. */
START_TEST(openapi_matches_router)
{
	struct th_resp r;
	json_object *paths, *item, *op, *roles;
	size_t nops = 0;

	th_req(&t, "GET", "/v1/openapi.json", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "openapi"), "3.1.0");
	ck_assert(json_object_object_get_ex(r.json, "paths", &paths));
	for (size_t i = 0; i < api_nroutes; i++) {
		char m[8];
		size_t k;

		for (k = 0; api_routes[i].method[k]; k++)
			m[k] = (char)(api_routes[i].method[k] | 0x20);
		m[k] = '\0';
		ck_assert_msg(json_object_object_get_ex(paths, api_routes[i].pattern, &item),
			      "%s missing from openapi", api_routes[i].pattern);
		ck_assert_msg(json_object_object_get_ex(item, m, &op), "%s %s missing", m,
			      api_routes[i].pattern);
		ck_assert(json_object_object_get_ex(op, "x-pvm-roles", &roles));
		if (api_routes[i].body_schema) {
			json_object *rb;

			ck_assert(json_object_object_get_ex(op, "requestBody", &rb));
		}
	}
	json_object_object_foreach(paths, path, ops)
	{
		json_object_object_foreach(ops, method, o)
		{
			/* HEAD is served wherever GET is */
			const char *want = strcmp(method, "head") == 0 ? "get" : method;
			bool found = false;

			(void)o;
			for (size_t i = 0; i < api_nroutes; i++)
				found |= strcmp(api_routes[i].pattern, path) == 0 &&
					 strcasecmp(api_routes[i].method, want) == 0;
			ck_assert_msg(found, "openapi has %s %s, the router does not", method,
				      path);
			nops += strcmp(method, "head") != 0;
		}
	}
	ck_assert_uint_eq(nops, api_nroutes);
	th_resp_free(&r);
}
END_TEST

START_TEST(tokens_create_list_revoke)
{
	struct th_resp r;
	char secret[128], id[ID], path[128];

	th_token(&t, "reader", secret, sizeof(secret), id, sizeof(id));
	ck_assert(strncmp(secret, "pvm_", 4) == 0);
	th_req(&t, "GET", "/v1/hosts", secret, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	th_req(&t, "GET", "/v1/tokens", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, id));
	ck_assert_ptr_null(strstr(r.body, secret)); /* the secret is shown once */
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/tokens/%s", id);
	th_req(&t, "DELETE", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	th_resp_free(&r);
	th_req(&t, "GET", "/v1/hosts", secret, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401);
	ck_assert_str_eq(th_problem(&r), "unauthorized");
	th_resp_free(&r);
}
END_TEST

static int64_t wall_ms(void)
{
	return (int64_t)(pvm_wall_ns() / 1000000ull);
}

/*
 * ttl_s: create answers expires_at (RFC 3339) between "before + ttl" and
 * "after + ttl"; GET one and the list answer the same; without ttl_s it is
 * null; the token works until then.
 */
START_TEST(tokens_ttl)
{
	char lo[API_RFC3339_MAX], hi[API_RFC3339_MAX], at[API_RFC3339_MAX];
	char id[ID], secret[128], path[128];
	json_object *items, *it;
	struct th_resp r;
	int64_t before, after;
	bool seen = false;

	before = wall_ms();
	th_req(&t, "POST", "/v1/tokens", t.admin,
	       "{\"name\":\"ci\",\"role\":\"reader\",\"ttl_s\":3600}", NULL, &r);
	after = wall_ms();
	ck_assert_int_eq(r.status, 201);
	snprintf(at, sizeof(at), "%s", th_str(&r, "expires_at"));
	snprintf(id, sizeof(id), "%s", th_str(&r, "id"));
	snprintf(secret, sizeof(secret), "%s", th_str(&r, "secret"));
	th_resp_free(&r);
	api_rfc3339(before + 3600 * 1000, lo, sizeof(lo));
	api_rfc3339(after + 3600 * 1000, hi, sizeof(hi));
	ck_assert_msg(strlen(at) == 24 && at[10] == 'T' && at[23] == 'Z', "expires_at %s", at);
	ck_assert_msg(strcmp(lo, at) <= 0 && strcmp(at, hi) <= 0, "%s not in [%s, %s]", at, lo, hi);

	th_req(&t, "GET", "/v1/hosts", secret, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/tokens/%s", id);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "expires_at"), at);
	ck_assert_str_eq(th_str(&r, "role"), "reader");
	ck_assert_str_eq(r.etag, "\"1\"");
	ck_assert_ptr_null(strstr(r.body, secret));
	th_resp_free(&r);
	th_req(&t, "GET", "/v1/tokens", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(json_object_object_get_ex(r.json, "items", &items));
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		it = json_object_array_get_idx(items, i);
		if (strcmp(json_object_get_string(json_object_object_get(it, "id")), id) == 0) {
			ck_assert_str_eq(
			    json_object_get_string(json_object_object_get(it, "expires_at")), at);
			seen = true;
		} else {
			/* the bootstrap admin has no expiry: present and null */
			ck_assert(json_object_object_get_ex(it, "expires_at", NULL));
			ck_assert_ptr_null(json_object_object_get(it, "expires_at"));
		}
	}
	ck_assert(seen);
	th_resp_free(&r);
	th_req(&t, "GET", "/v1/tokens/tok_nope", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
}
END_TEST

/*
 * A token with a short expiry (set through the store, as the API's minimum
 * TTL is a minute) works, then gets 401 token-expired with the RFC 6750
 * challenge, though the server cached it while it was valid. Not a timing
 * assertion: only answers to requests sent wholly before the expiry must be
 * 200, and only those sent after it must be 401.
 */
START_TEST(token_works_then_expires)
{
	struct store_token tok = {.role = STORE_ROLE_READER};
	char secret[STORE_SECRET_MAX];
	struct pvm_err err = {0};
	struct th_resp r;
	int64_t start, end, first_start = 0;
	int ok = 0, expired = 0;

	snprintf(tok.name, sizeof(tok.name), "short");
	tok.expires_ms = wall_ms() + 3000;
	ck_assert_int_eq(store_token_create(t.st, &tok, secret, &err), 0);
	while (!expired) {
		start = wall_ms();
		if (!first_start)
			first_start = start;
		th_req(&t, "GET", "/v1/hosts", secret, NULL, NULL, &r);
		end = wall_ms();
		if (r.status == 200) {
			ck_assert_int_lt(start, tok.expires_ms);
			ok++;
		} else {
			ck_assert_int_eq(r.status, 401);
			ck_assert_str_eq(th_problem(&r), "token-expired");
			ck_assert_str_eq(
			    r.www_auth,
			    "Bearer error=\"invalid_token\", error_description=\"token expired\"");
			ck_assert_ptr_nonnull(strstr(th_str(&r, "detail"), tok.id));
			ck_assert_int_ge(end, tok.expires_ms);
			expired++;
		}
		th_resp_free(&r);
		if (end < tok.expires_ms)
			pvm_sleep_ns(100 * 1000000ull);
	}
	/* The token worked before it expired, unless the machine stalled past the
	 * expiry before the first request (each answer was checked against the
	 * time it was asked, above). */
	ck_assert(ok > 0 || first_start >= tok.expires_ms);
}
END_TEST

START_TEST(auth_401_vs_403)
{
	struct th_resp r;
	char reader[128];

	th_req(&t, "GET", "/v1/guests", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401);
	ck_assert_str_eq(r.ctype, "application/problem+json");
	ck_assert(strncmp(r.www_auth, "Bearer", 6) == 0);
	th_resp_free(&r);
	th_token(&t, "reader", reader, sizeof(reader), NULL, 0);
	th_req(&t, "POST", "/v1/guests", reader, guest_body("nope"), NULL, &r);
	ck_assert_int_eq(r.status, 403);
	ck_assert_str_eq(th_problem(&r), "forbidden");
	th_resp_free(&r);
	th_req(&t, "GET", "/metrics", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
}
END_TEST

START_TEST(hosts_lifecycle)
{
	struct th_resp r;
	char id[ID], tok[128], path[160], etag[64], hdr[128];
	const char *ifm[] = {hdr, NULL};

	th_host(&t, "h1", 4, 4096, "[\"console\",\"block\"]", id, sizeof(id), tok, sizeof(tok));
	snprintf(path, sizeof(path), "/v1/hosts/%s", id);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "state"), "ready");
	ck_assert_ptr_nonnull(strstr(r.body, "\"console\""));
	snprintf(etag, sizeof(etag), "%s", r.etag);
	th_resp_free(&r);
	/* the host's own token may read its row, and heartbeat again */
	th_req(&t, "GET", path, tok, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	th_req(&t, "GET", "/v1/hosts", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, id));
	th_resp_free(&r);
	snprintf(hdr, sizeof(hdr), "If-Match: %s", etag);
	th_req(&t, "PATCH", path, t.admin, "{\"cordoned\":true,\"labels\":{\"zone\":\"a\"}}", ifm,
	       &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "cordoned"), "true");
	ck_assert_str_ne(r.etag, etag);
	th_resp_free(&r);
	/* the old ETag is stale now */
	th_req(&t, "PATCH", path, t.admin, "{\"cordoned\":false}", ifm, &r);
	ck_assert_int_eq(r.status, 412);
	ck_assert_str_eq(th_problem(&r), "precondition-failed");
	th_resp_free(&r);
	th_req(&t, "PATCH", path, t.admin, "{\"cordoned\":false}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/hosts/%s/assignments?since=0&wait=0", id);
	th_req(&t, "GET", path, tok, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"guests\":[]"));
	th_resp_free(&r);
	/* re-registering with the same host token gives the same host back */
	th_req(&t, "POST", "/v1/hosts", tok, "{\"name\":\"h1\"}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "id"), id);
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/hosts/%s", id);
	th_req(&t, "DELETE", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	th_resp_free(&r);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	/* its token may register the host again */
	th_req(&t, "POST", "/v1/hosts", tok, "{\"name\":\"h1\"}", NULL, &r);
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_ne(th_str(&r, "id"), id);
	th_resp_free(&r);
}
END_TEST

START_TEST(guests_lifecycle)
{
	struct th_resp r;
	char hid[ID], htok[128], gid[ID], path[160], hdr[128];
	const char *ifm[] = {hdr, NULL};

	th_host(&t, "h1", 4, 4096, "[\"console\",\"clock\"]", hid, sizeof(hid), htok, sizeof(htok));
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("g1"), NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	snprintf(gid, sizeof(gid), "%s", th_str(&r, "id"));
	ck_assert_str_eq(th_str(&r, "host_id"), hid);
	ck_assert_str_eq(th_str(&r, "observed_state"), "scheduled");
	snprintf(path, sizeof(path), "/v1/guests/%s", gid);
	ck_assert_str_eq(r.location, path);
	th_resp_free(&r);

	/* the host sees it among its assignments, and reports on it */
	snprintf(path, sizeof(path), "/v1/hosts/%s/assignments?since=0", hid);
	th_req(&t, "GET", path, htok, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, gid));
	th_resp_free(&r);
	/* read it once before the report, so a stale copy would show */
	snprintf(path, sizeof(path), "/v1/guests/%s", gid);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"hook_stats\":[]"));
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/guests/%s/reports", gid);
	th_req(&t, "POST", path, htok,
	       "{\"observed_state\":\"running\",\"capabilities\":[{\"name\":\"console\","
	       "\"state\":\"accepted\",\"abi_version\":1},{\"name\":\"block\",\"state\":"
	       "\"refused\",\"abi_version\":1,\"reason\":\"not offered\"}],\"hook_stats\":[{"
	       "\"hook\":\"console\",\"calls\":10,\"doorbells\":2,\"bytes\":640,\"errors\":0,"
	       "\"exits_avoided\":630}]}",
	       NULL, &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	th_resp_free(&r);

	snprintf(path, sizeof(path), "/v1/guests/%s", gid);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "observed_state"), "running");
	ck_assert_ptr_nonnull(strstr(r.body, "\"exits_avoided\":630"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"reason\":\"not offered\""));
	snprintf(hdr, sizeof(hdr), "If-Match: %s", r.etag);
	th_resp_free(&r);

	th_req(&t, "GET", "/v1/guests", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, gid));
	th_resp_free(&r);

	th_req(&t, "PATCH", path, t.admin, "{\"desired_state\":\"stopped\"}", ifm, &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	ck_assert_str_eq(th_str(&r, "desired_state"), "stopped");
	th_resp_free(&r);

	th_req(&t, "GET", "/metrics", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.ctype, "version=0.0.4"));
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE pvm_hook_calls_total counter"));
	{
		char line[256];

		snprintf(line, sizeof(line),
			 "pvm_hook_calls_total{host=\"%s\",guest=\"%s\",hook=\"console\"} 10", hid,
			 gid);
		ck_assert_msg(strstr(r.body, line), "no %s in\n%s", line, r.body);
	}
	ck_assert_ptr_nonnull(strstr(r.body, "pvm_api_request_duration_seconds_bucket{"));
	ck_assert_ptr_nonnull(strstr(r.body, "pvm_host_free_memory_bytes{host="));
	th_resp_free(&r);

	th_req(&t, "POST", "/v1/placements/explain", t.admin, guest_body("what-if"), NULL, &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	ck_assert_ptr_nonnull(strstr(r.body, hid));
	ck_assert_ptr_nonnull(strstr(r.body, "\"filters\""));
	th_resp_free(&r);

	th_req(&t, "DELETE", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	th_resp_free(&r);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(th_problem(&r), "not-found");
	th_resp_free(&r);
}
END_TEST

START_TEST(guest_without_host_stays_pending)
{
	struct th_resp r;

	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("lonely"), NULL, &r);
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(th_str(&r, "observed_state"), "pending");
	ck_assert_str_eq(th_str(&r, "host_id"), "");
	th_resp_free(&r);
}
END_TEST

START_TEST(images_lifecycle)
{
	struct th_resp r;
	char id[ID], path[128];

	th_req(&t, "POST", "/v1/images", t.admin,
	       "{\"name\":\"console\",\"format\":\"elf\",\"source\":\"/usr/lib/pvm/console.elf\","
	       "\"size_bytes\":4096}",
	       NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	snprintf(id, sizeof(id), "%s", th_str(&r, "id"));
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/images/%s", id);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "format"), "elf");
	ck_assert_str_eq(r.etag, "\"1\"");
	th_resp_free(&r);
	th_req(&t, "GET", "/v1/images", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, id));
	th_resp_free(&r);
	th_req(&t, "DELETE", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	th_resp_free(&r);
}
END_TEST

START_TEST(idempotency_key)
{
	struct th_resp a, b;
	const char *key[] = {"Idempotency-Key: create-g1", NULL};

	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("idem"), key, &a);
	ck_assert_int_eq(a.status, 201);
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("idem"), key, &b);
	ck_assert_int_eq(b.status, 201);
	ck_assert_str_eq(th_str(&a, "id"), th_str(&b, "id"));
	th_resp_free(&b);
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("other"), key, &b);
	ck_assert_int_eq(b.status, 422);
	ck_assert_str_eq(th_problem(&b), "idempotency-key-reused");
	th_resp_free(&b);
	th_resp_free(&a);
	th_req(&t, "GET", "/v1/guests", t.admin, NULL, NULL, &a);
	ck_assert_ptr_null(strstr(a.body, "\"other\""));
	th_resp_free(&a);
}
END_TEST

START_TEST(cursor_pagination)
{
	char seen[8][ID];
	char next[ID] = "", path[160];
	size_t n = 0;
	int pages = 0;

	for (int i = 0; i < 7; i++) {
		struct th_resp r;
		char body[256];

		snprintf(body, sizeof(body),
			 "{\"name\":\"img%d\",\"format\":\"raw\",\"source\":\"/x/%d\"}", i, i);
		th_req(&t, "POST", "/v1/images", t.admin, body, NULL, &r);
		ck_assert_int_eq(r.status, 201);
		th_resp_free(&r);
	}
	do {
		struct th_resp r;
		json_object *items, *nx;

		snprintf(path, sizeof(path), "/v1/images?limit=3%s%s",
			 next[0] ? "&page_token=" : "", next);
		th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
		ck_assert_int_eq(r.status, 200);
		ck_assert(json_object_object_get_ex(r.json, "items", &items));
		ck_assert_uint_le(json_object_array_length(items), 3);
		for (size_t i = 0; i < json_object_array_length(items); i++) {
			json_object *v;

			ck_assert_uint_lt(n, 8);
			json_object_object_get_ex(json_object_array_get_idx(items, i), "id", &v);
			snprintf(seen[n], ID, "%s", json_object_get_string(v));
			for (size_t k = 0; k < n; k++)
				ck_assert_str_ne(seen[k], seen[n]);
			n++;
		}
		ck_assert(json_object_object_get_ex(r.json, "next_page_token", &nx));
		next[0] = '\0';
		if (nx)
			snprintf(next, sizeof(next), "%s", json_object_get_string(nx));
		th_resp_free(&r);
		pages++;
	} while (next[0]);
	ck_assert_uint_eq(n, 7);
	ck_assert_int_ge(pages, 3);
}
END_TEST

START_TEST(events_long_poll_and_sse)
{
	struct th_resp r;
	int64_t last;
	char path[128];

	th_req(&t, "GET", "/v1/events?since=0", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "token.created"));
	last = json_object_get_int64(json_object_object_get(r.json, "last_seq"));
	th_resp_free(&r);
	/* nothing new: the long poll times out with no events */
	snprintf(path, sizeof(path), "/v1/events?since=%lld&wait=1", (long long)last);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"events\":[]"));
	th_resp_free(&r);
	/* SSE replays from since and ends after wait */
	const char *sse[] = {"Accept: text/event-stream", NULL};

	th_req(&t, "GET", "/v1/events?since=0&wait=1", t.admin, NULL, sse, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.ctype, "text/event-stream");
	ck_assert_ptr_nonnull(strstr(r.body, "event: token.created\ndata: {"));
	ck_assert_ptr_nonnull(strstr(r.body, "id: 1\n"));
	th_resp_free(&r);
}
END_TEST

struct poller {
	struct th *t;
	char path[160];
	char token[128];
	struct th_resp r;
};

static void *poll_thread(void *arg)
{
	struct poller *p = arg;

	th_req(p->t, "GET", p->path, p->token, NULL, NULL, &p->r);
	return NULL;
}

/* A long poll wakes when a guest is bound to its host. */
START_TEST(assignments_wake_on_bind)
{
	struct poller p = {.t = &t};
	struct th_resp r;
	char hid[ID];
	pthread_t th;
	int64_t gen;

	th_host(&t, "h1", 4, 4096, "[\"console\"]", hid, sizeof(hid), p.token, sizeof(p.token));
	snprintf(p.path, sizeof(p.path), "/v1/hosts/%s/assignments", hid);
	th_req(&t, "GET", p.path, p.token, NULL, NULL, &r);
	gen = json_object_get_int64(json_object_object_get(r.json, "generation"));
	th_resp_free(&r);
	snprintf(p.path, sizeof(p.path), "/v1/hosts/%s/assignments?since=%lld&wait=30", hid,
		 (long long)gen);
	pthread_create(&th, NULL, poll_thread, &p);
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("wake"), NULL, &r);
	ck_assert_int_eq(r.status, 201);
	th_resp_free(&r);
	pthread_join(th, NULL);
	/* The create and the controller's bind are two commits: a host polls
	 * again from the generation it got, as pvmd's host role does. */
	for (int i = 0; i < 5 && p.r.status == 200 && !strstr(p.r.body, "\"name\":\"wake\""); i++) {
		ck_assert_int_gt(
		    json_object_get_int64(json_object_object_get(p.r.json, "generation")), gen);
		gen = json_object_get_int64(json_object_object_get(p.r.json, "generation"));
		th_resp_free(&p.r);
		snprintf(p.path, sizeof(p.path), "/v1/hosts/%s/assignments?since=%lld&wait=30", hid,
			 (long long)gen);
		poll_thread(&p);
	}
	ck_assert_int_eq(p.r.status, 200);
	ck_assert_ptr_nonnull(strstr(p.r.body, "\"name\":\"wake\""));
	ck_assert_int_gt(json_object_get_int64(json_object_object_get(p.r.json, "generation")),
			 gen);
	th_resp_free(&p.r);
}
END_TEST

static bool host_state_is(const char *hid, const char *state)
{
	struct th_resp r;
	char path[128];
	bool yes;

	snprintf(path, sizeof(path), "/v1/hosts/%s", hid);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	yes = strcmp(th_str(&r, "state"), state) == 0;
	th_resp_free(&r);
	return yes;
}

/* Three missed heartbeats (1 s each here): unreachable, with an event, and its
 * guests move to a host that still heartbeats. */
START_TEST(unreachable_host_is_evacuated)
{
	struct th_resp r;
	char a[ID], atok[128], b[ID], btok[128], gid[ID];
	uint64_t deadline = pvm_now_ns() + 20ull * 1000000000ull;
	bool moved = false;

	th_host(&t, "a", 4, 4096, "[\"console\"]", a, sizeof(a), atok, sizeof(atok));
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("mover"), NULL, &r);
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(th_str(&r, "host_id"), a);
	snprintf(gid, sizeof(gid), "%s", th_str(&r, "id"));
	th_resp_free(&r);
	th_host(&t, "b", 4, 4096, "[\"console\"]", b, sizeof(b), btok, sizeof(btok));
	while (!moved && pvm_now_ns() < deadline) {
		th_beat(&t, b, btok);
		pvm_sleep_ns(300 * 1000000ull);
		if (host_state_is(a, "unreachable")) {
			char gp[128];

			snprintf(gp, sizeof(gp), "/v1/guests/%s", gid);
			th_req(&t, "GET", gp, t.admin, NULL, NULL, &r);
			moved = strcmp(th_str(&r, "host_id"), b) == 0;
			th_resp_free(&r);
		}
	}
	ck_assert_msg(moved, "guest was not evacuated to the live host");
	ck_assert(host_state_is(b, "ready"));
	th_req(&t, "GET", "/v1/events?since=0&limit=1000", t.admin, NULL, NULL, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "host.unreachable"));
	th_resp_free(&r);
}
END_TEST

START_TEST(graceful_stop_answers_long_poll)
{
	struct poller p = {.t = &t};
	pthread_t th;

	snprintf(p.token, sizeof(p.token), "%s", t.admin);
	snprintf(p.path, sizeof(p.path), "/v1/events?since=1000000&wait=60");
	pthread_create(&th, NULL, poll_thread, &p);
	pvm_sleep_ns(300 * 1000000ull);
	api_server_stop(t.srv); /* what SIGTERM does */
	t.srv = NULL;
	pthread_join(th, NULL);
	ck_assert_int_eq(p.r.status, 200);
	ck_assert_ptr_nonnull(strstr(p.r.body, "\"events\":[]"));
	th_resp_free(&p.r);
}
END_TEST

static const char *guest_host(const char *gid)
{
	static char host[64];
	struct th_resp r;
	char path[128];

	snprintf(path, sizeof(path), "/v1/guests/%s", gid);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	snprintf(host, sizeof(host), "%s", th_str(&r, "host_id"));
	th_resp_free(&r);
	return host;
}

/* Draining a host moves its guests where they fit, and keeps them where they do not. */
START_TEST(drain_moves_guests)
{
	struct th_resp r;
	char a[ID], atok[128], b[ID], btok[128], small[ID], big[ID], path[160];
	uint64_t deadline = pvm_now_ns() + 20ull * 1000000000ull;

	th_host(&t, "a", 8, 8192, "[\"console\"]", a, sizeof(a), atok, sizeof(atok));
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("small"), NULL, &r);
	snprintf(small, sizeof(small), "%s", th_str(&r, "id"));
	th_resp_free(&r);
	th_req(&t, "POST", "/v1/guests", t.admin,
	       "{\"name\":\"big\",\"image\":\"x\",\"vcpus\":6,\"memory_mib\":4096}", NULL, &r);
	snprintf(big, sizeof(big), "%s", th_str(&r, "id"));
	th_resp_free(&r);
	ck_assert_str_eq(guest_host(small), a);
	ck_assert_str_eq(guest_host(big), a);
	th_host(&t, "b", 2, 2048, "[\"console\"]", b, sizeof(b), btok, sizeof(btok));
	snprintf(path, sizeof(path), "/v1/hosts/%s", a);
	th_req(&t, "PATCH", path, t.admin, "{\"draining\":true}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	while (strcmp(guest_host(small), b) != 0 && pvm_now_ns() < deadline) {
		/* keep both hosts alive while the controller works */
		th_beat(&t, a, atok);
		th_beat(&t, b, btok);
		pvm_sleep_ns(100 * 1000000ull);
	}
	ck_assert_str_eq(guest_host(small), b);
	ck_assert_str_eq(guest_host(big), a); /* b is too small for it */
}
END_TEST

static double exit_pressure_raw(json_object *explain, const char *host)
{
	json_object *hosts = json_object_object_get(explain, "hosts");

	for (size_t i = 0; i < json_object_array_length(hosts); i++) {
		json_object *h = json_object_array_get_idx(hosts, i);
		json_object *scores = json_object_object_get(h, "scores");

		if (strcmp(json_object_get_string(json_object_object_get(h, "host")), host) != 0)
			continue;
		for (size_t k = 0; k < json_object_array_length(scores); k++) {
			json_object *sc = json_object_array_get_idx(scores, k);

			if (strcmp(json_object_get_string(json_object_object_get(sc, "name")),
				   "exit_pressure") == 0)
				return json_object_get_double(json_object_object_get(sc, "raw"));
		}
	}
	ck_abort_msg("no exit_pressure score for %s", host);
	return 0;
}

/*
 * Reports a guest on host a through a's token, its counters growing with each
 * report (body writes report i), until a scores worse than b on exit pressure
 * or 30 s pass; r is the last explanation. The controller derives rates from
 * the rows two of its 1 s ticks read, so under load that can take longer than
 * the three 1 s heartbeat intervals after which a silent host is unreachable,
 * fails the state filter and gets no scores: both hosts heartbeat as their
 * daemons would.
 */
static void report_until_pressed(const char *a, const char *atok, const char *b, const char *btok,
				 const char *gid, void (*body)(int i, char *out, size_t len),
				 struct th_resp *r)
{
	uint64_t deadline = pvm_now_ns() + 30ull * 1000000000ull;
	char path[160], out[512];

	snprintf(path, sizeof(path), "/v1/guests/%s/reports", gid);
	for (int i = 0;; i++) {
		body(i, out, sizeof(out));
		th_req(&t, "POST", path, atok, out, NULL, r);
		ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
		th_resp_free(r);
		th_beat(&t, a, atok);
		th_beat(&t, b, btok);
		pvm_sleep_ns(250 * 1000000ull);
		th_req(&t, "POST", "/v1/placements/explain", t.admin, guest_body("probe"), NULL, r);
		ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
		if ((i > 0 && exit_pressure_raw(r->json, a) < exit_pressure_raw(r->json, b)) ||
		    pvm_now_ns() >= deadline)
			return;
		th_resp_free(r);
	}
}

static void hook_report(int i, char *out, size_t len)
{
	snprintf(out, len,
		 "{\"hook_stats\":[{\"hook\":\"console\",\"calls\":%d,\"doorbells\":%lld}]}",
		 i * 1000000, i * 100000000000LL);
}

/* Reported hook statistics reach the scheduler: an exit-heavy guest makes its
 * host score worse on exit pressure. */
START_TEST(reports_feed_the_scheduler)
{
	struct th_resp r;
	char a[ID], atok[128], b[ID], btok[128], gid[ID];
	double before_a, before_b;

	th_host(&t, "a", 8, 8192, "[\"console\"]", a, sizeof(a), atok, sizeof(atok));
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("noisy"), NULL, &r);
	snprintf(gid, sizeof(gid), "%s", th_str(&r, "id"));
	ck_assert_str_eq(th_str(&r, "host_id"), a);
	th_resp_free(&r);
	th_host(&t, "b", 8, 8192, "[\"console\"]", b, sizeof(b), btok, sizeof(btok));
	th_req(&t, "POST", "/v1/placements/explain", t.admin, guest_body("probe"), NULL, &r);
	ck_assert_int_eq(r.status, 200);
	before_a = exit_pressure_raw(r.json, a);
	before_b = exit_pressure_raw(r.json, b);
	ck_assert_double_eq_tol(before_a, before_b, 1e-9);
	th_resp_free(&r);
	report_until_pressed(a, atok, b, btok, gid, hook_report, &r);
	ck_assert_msg(exit_pressure_raw(r.json, a) < exit_pressure_raw(r.json, b),
		      "exit pressure of a %g, b %g", exit_pressure_raw(r.json, a),
		      exit_pressure_raw(r.json, b));
	ck_assert_str_eq(json_object_get_string(json_object_object_get(r.json, "chosen")), b);
	th_resp_free(&r);
}
END_TEST

static void exits_report(int i, char *out, size_t len)
{
	snprintf(out, len, "{\"exits\":{\"io\":%lld,\"hlt\":1,\"total\":%lld}}", i * 100000000000LL,
		 i * 100000000000LL + 1);
}

/* Exits alone (an emulated guest has no hooks) feed the exit-pressure scorer. */
START_TEST(exits_feed_the_scheduler)
{
	struct th_resp r;
	char a[ID], atok[128], b[ID], btok[128], gid[ID];

	th_host(&t, "a", 8, 8192, "[\"console\"]", a, sizeof(a), atok, sizeof(atok));
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("emulated"), NULL, &r);
	snprintf(gid, sizeof(gid), "%s", th_str(&r, "id"));
	ck_assert_str_eq(th_str(&r, "host_id"), a);
	th_resp_free(&r);
	th_host(&t, "b", 8, 8192, "[\"console\"]", b, sizeof(b), btok, sizeof(btok));
	report_until_pressed(a, atok, b, btok, gid, exits_report, &r);
	ck_assert_msg(exit_pressure_raw(r.json, a) < exit_pressure_raw(r.json, b),
		      "exit pressure of a %g, b %g", exit_pressure_raw(r.json, a),
		      exit_pressure_raw(r.json, b));
	th_resp_free(&r);
}
END_TEST

#define AGENT_BODY(stale, calls)                                                                   \
	"{\"agent\":{\"state\":\"connected\",\"stale\":" stale ",\"hello\":{\"agent_version\":"    \
	"\"1.0\",\"protocol_min\":1,\"protocol_max\":1,\"guest_kind\":\"microguest\",\"os\":"      \
	"\"pvm-microguest\",\"boot_id\":\"00112233-4455-6677-8899-aabbccddeeff\"},"                \
	"\"negotiation\":{\"status\":\"accepted\",\"pv_abi_version\":1,\"offered\":[\"console\","  \
	"\"agent\"],\"accepted\":[\"console\",\"agent\"],\"refused\":[],\"kvm\":{\"cpuid_read\":"  \
	"true,\"features\":1,"                                                                     \
	"\"feature_names\":[\"clocksource\"],\"clocksource\":\"tsc\"}},\"report\":{"               \
	"\"report_no\":3,\"interval_ms\":100,\"hooks\":{\"console\":{\"calls\":" calls             \
	",\"cycles\":9000,\"bytes\":4096,\"errors\":0}},\"counters\":{\"console_bytes\":4096}}},"  \
	"\"exits\":{\"io\":12,\"hlt\":1,\"total\":13}}"

/* Exits and the agent's state relayed: in GET, in /metrics, one agent_ready event. */
START_TEST(reports_relay_exits_and_agent)
{
	struct th_resp r;
	char a[ID], atok[128], gid[ID], path[160], line[256];
	json_object *agent, *exits, *v;
	int ready = 0;

	th_host(&t, "a", 8, 8192, "[\"console\"]", a, sizeof(a), atok, sizeof(atok));
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("relayed"), NULL, &r);
	snprintf(gid, sizeof(gid), "%s", th_str(&r, "id"));
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/guests/%s", gid);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\"exits\":{}"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"agent\":null"));
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/guests/%s/reports", gid);
	th_req(&t, "POST", path, atok, AGENT_BODY("false", "7"), NULL, &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	th_resp_free(&r);
	th_req(&t, "POST", path, atok, AGENT_BODY("true", "9"), NULL, &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	th_resp_free(&r);

	snprintf(path, sizeof(path), "/v1/guests/%s", gid);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(json_object_object_get_ex(r.json, "exits", &exits));
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(exits, "total")), 13);
	ck_assert(json_object_object_get_ex(r.json, "agent", &agent));
	ck_assert(json_object_get_boolean(json_object_object_get(agent, "stale")));
	ck_assert_int_gt(json_object_get_int64(json_object_object_get(agent, "ready_ms")), 0);
	v = json_object_object_get(json_object_object_get(agent, "hello"), "os");
	ck_assert_str_eq(json_object_get_string(v), "pvm-microguest");
	th_resp_free(&r);

	th_req(&t, "GET", "/v1/events?since=0", t.admin, NULL, NULL, &r);
	for (const char *p = r.body; (p = strstr(p, "\"guest.agent_ready\"")); p++)
		ready++;
	ck_assert_int_eq(ready, 1);
	th_resp_free(&r);

	th_req(&t, "GET", "/metrics", t.admin, NULL, NULL, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE pvm_guest_vcpu_exits_total counter"));
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE pvm_guest_agent_hook_calls_total counter"));
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE pvm_guest_agent_stale gauge"));
	snprintf(line, sizeof(line), "pvm_guest_vcpu_exits_total{guest=\"%s\",reason=\"io\"} 12\n",
		 gid);
	ck_assert_msg(strstr(r.body, line), "no %s in\n%s", line, r.body);
	/* the report's total is the guest's own count, not one more reason */
	snprintf(line, sizeof(line), "pvm_guest_vcpu_guest_exits_total{guest=\"%s\"} 13\n", gid);
	ck_assert_msg(strstr(r.body, line), "no %s in\n%s", line, r.body);
	ck_assert_ptr_null(strstr(r.body, "reason=\"total\""));
	snprintf(line, sizeof(line),
		 "pvm_guest_agent_hook_calls_total{guest=\"%s\",hook=\"console\"} 9\n", gid);
	ck_assert_msg(strstr(r.body, line), "no %s", line);
	snprintf(line, sizeof(line), "pvm_guest_agent_stale{guest=\"%s\"} 1\n", gid);
	ck_assert_msg(strstr(r.body, line), "no %s", line);
	th_resp_free(&r);
}
END_TEST

/* A counter's value in a scrape (the line that starts with head), or -1. */
static double scraped(const char *body, const char *head)
{
	const char *p = strstr(body, head);

	return p ? strtod(p + strlen(head), NULL) : -1;
}

/* vCPUs overcommitted: allocation and the ratio say so, free CPUs stop at 0;
 * every placement attempt is counted by its result. */
START_TEST(metrics_report_overcommit)
{
	struct th_resp r;
	char a[ID], atok[128], line[256];

	th_host(&t, "a", 2, 2048, "[\"console\"]", a, sizeof(a), atok, sizeof(atok));
	for (int i = 0; i < 2; i++) {
		snprintf(line, sizeof(line),
			 "{\"name\":\"oc%d\",\"image\":\"x\",\"vcpus\":2,\"memory_mib\":64}", i);
		th_req(&t, "POST", "/v1/guests", t.admin, line, NULL, &r);
		ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
		ck_assert_str_eq(th_str(&r, "host_id"), a);
		th_resp_free(&r);
	}
	th_req(&t, "POST", "/v1/guests", t.admin,
	       "{\"name\":\"huge\",\"image\":\"x\",\"vcpus\":1,\"memory_mib\":65536}", NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	th_resp_free(&r);

	th_req(&t, "GET", "/metrics", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	snprintf(line, sizeof(line), "pvm_host_allocated_vcpus{host=\"%s\",name=\"a\"} 4\n", a);
	ck_assert_msg(strstr(r.body, line), "no %s in\n%s", line, r.body);
	snprintf(line, sizeof(line), "pvm_host_free_cpus{host=\"%s\",name=\"a\"} 0\n", a);
	ck_assert_msg(strstr(r.body, line), "no %s in\n%s", line, r.body);
	snprintf(line, sizeof(line), "pvm_host_cpu_overcommit_ratio{host=\"%s\",name=\"a\"} 2\n",
		 a);
	ck_assert_msg(strstr(r.body, line), "no %s in\n%s", line, r.body);
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE pvm_placements_total counter"));
	ck_assert(scraped(r.body, "pvm_placements_total{result=\"bound\"} ") >= 2);
	ck_assert(scraped(r.body, "pvm_placements_total{result=\"unschedulable\"} ") >= 1);
	ck_assert(scraped(r.body, "pvm_placements_total{result=\"error\"} ") == 0);
	th_resp_free(&r);
}
END_TEST

/* With nowhere to go, the guest of a silent host stays bound, observed unknown. */
START_TEST(stranded_guest_is_unknown)
{
	struct th_resp r;
	char a[ID], atok[128], gid[ID], path[160];
	uint64_t deadline = pvm_now_ns() + 20ull * 1000000000ull;
	bool unknown = false;

	th_host(&t, "a", 8, 8192, "[\"console\"]", a, sizeof(a), atok, sizeof(atok));
	th_req(&t, "POST", "/v1/guests", t.admin, guest_body("stranded"), NULL, &r);
	snprintf(gid, sizeof(gid), "%s", th_str(&r, "id"));
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/guests/%s", gid);
	while (!unknown && pvm_now_ns() < deadline) {
		pvm_sleep_ns(200 * 1000000ull);
		th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
		unknown = strcmp(th_str(&r, "observed_state"), "unknown") == 0;
		th_resp_free(&r);
	}
	ck_assert(unknown);
	ck_assert_str_eq(guest_host(gid), a);
}
END_TEST

/* Two guests on one host, an empty host beside it: the rebalancer spreads them. */
/* The explain answer chooses host id (the controller's fleet has caught up
 * with a change made through the store), polled for at most 10 s. */
static bool chosen_becomes(const char *id)
{
	uint64_t deadline = pvm_now_ns() + 10000000000ull;
	bool ok = false;

	while (!ok && pvm_now_ns() < deadline) {
		struct th_resp r;
		json_object *c;

		th_req(&t, "POST", "/v1/placements/explain", t.admin,
		       "{\"name\":\"probe\",\"image\":\"x\",\"vcpus\":2,\"memory_mib\":2048}", NULL,
		       &r);
		c = r.json ? json_object_object_get(r.json, "chosen") : NULL;
		ok = c && strcmp(json_object_get_string(c), id) == 0;
		th_resp_free(&r);
		if (!ok)
			pvm_sleep_ns(50000000);
	}
	return ok;
}

/* Under the default (packing) policy: two guests kept apart by a cordon,
 * then the cordon lifted: the rebalancer proposes putting them together,
 * and applies it. */
START_TEST(rebalance_proposes_and_applies)
{
	struct th_resp r;
	char a[ID], atok[128], b[ID], btok[128], g1[ID], g2[ID], reader[128], path[80];
	json_object *moves;

	th_host(&t, "a", 4, 4096, "[\"console\"]", a, sizeof(a), atok, sizeof(atok));
	th_req(&t, "POST", "/v1/guests", t.admin,
	       "{\"name\":\"r1\",\"image\":\"x\",\"vcpus\":2,\"memory_mib\":2048}", NULL, &r);
	snprintf(g1, sizeof(g1), "%s", th_str(&r, "id"));
	th_resp_free(&r);
	ck_assert_str_eq(guest_host(g1), a);
	snprintf(path, sizeof(path), "/v1/hosts/%s", a);
	th_req(&t, "PATCH", path, t.admin, "{\"cordoned\":true}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	th_host(&t, "b", 4, 4096, "[\"console\"]", b, sizeof(b), btok, sizeof(btok));
	ck_assert(chosen_becomes(b));
	th_req(&t, "POST", "/v1/guests", t.admin,
	       "{\"name\":\"r2\",\"image\":\"x\",\"vcpus\":2,\"memory_mib\":2048}", NULL, &r);
	snprintf(g2, sizeof(g2), "%s", th_str(&r, "id"));
	th_resp_free(&r);
	ck_assert_str_eq(guest_host(g2), b);
	th_req(&t, "PATCH", path, t.admin, "{\"cordoned\":false}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);

	th_token(&t, "reader", reader, sizeof(reader), NULL, 0);
	th_req(&t, "POST", "/v1/rebalance", reader, "{\"apply\":true}", NULL, &r);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	/* The fleet learns of the lifted cordon on its own time. */
	for (int i = 0; i < 200; i++) {
		th_req(&t, "POST", "/v1/rebalance", reader, "{}", NULL, &r);
		ck_assert_int_eq(r.status, 200);
		moves = json_object_object_get(r.json, "moves");
		if (json_object_array_length(moves) >= 1 || i == 199)
			break;
		th_resp_free(&r);
		pvm_sleep_ns(50000000);
	}
	ck_assert_uint_eq(json_object_array_length(moves), 1);
	ck_assert_double_lt(json_object_get_double(json_object_object_get(
				json_object_array_get_idx(moves, 0), "delta")),
			    0);
	/* A single move, not a step of a consolidation plan. */
	ck_assert_int_eq(json_object_get_int(
			     json_object_object_get(json_object_array_get_idx(moves, 0), "plan")),
			 0);
	ck_assert_str_eq(guest_host(g1), a); /* only proposed */
	ck_assert_str_eq(guest_host(g2), b);
	th_resp_free(&r);

	th_req(&t, "POST", "/v1/rebalance", t.admin, "{\"apply\":true,\"max_moves\":5}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "applied"), "true");
	ck_assert_double_lt(json_object_get_double(json_object_object_get(r.json, "score_after")),
			    json_object_get_double(json_object_object_get(r.json, "score_before")));
	th_resp_free(&r);
	{
		char h1[ID];

		snprintf(h1, sizeof(h1), "%s", guest_host(g1));
		ck_assert_str_eq(h1, guest_host(g2));
	}
}
END_TEST

/* Label values are escaped as the text format wants. */
START_TEST(metrics_escape_labels)
{
	struct th_resp r;

	th_req(&t, "POST", "/v1/hosts", t.admin, "{\"name\":\"we\\\"ird\\\\host\",\"cpus\":2}",
	       NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	th_resp_free(&r);
	th_req(&t, "GET", "/metrics", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "name=\"we\\\"ird\\\\host\"} 2\n"), "%s", r.body);
	th_resp_free(&r);
}
END_TEST

static void heartbeat_platforms(const char *id, const char *tok, const char *platforms)
{
	struct th_resp r;
	char path[160], body[256];

	snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", id);
	snprintf(body, sizeof(body),
		 "{\"hooks\":[],\"abi_versions\":[1],\"emulation\":true,\"drivers\":[\"hv\"],"
		 "\"platforms\":%s}",
		 platforms);
	th_req(&t, "POST", path, tok, body, NULL, &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	th_resp_free(&r);
}

static const char *platform_guest(const char *name, const char *platform)
{
	static __thread char b[256];

	snprintf(b, sizeof(b),
		 "{\"name\":\"%s\",\"image\":\"idle.elf\",\"vcpus\":1,\"memory_mib\":64,"
		 "\"platform\":\"%s\"}",
		 name, platform);
	return b;
}

/*
 * Hosts report the platforms they offer (at registration and in heartbeats),
 * guests require one, the scheduler places only where it is offered and
 * explains why not elsewhere, a host's report shows the platform a guest runs
 * on, and /metrics and the OpenAPI document carry both.
 */
START_TEST(platforms_round_trip)
{
	struct th_resp r;
	char kh[ID], ktok[128], ph[ID], ptok[128], nh[ID], ntok[128], gid[ID], path[160], line[320],
	    etag[64];
	json_object *caps, *v, *sch;

	/* registration keeps the platforms in the capability document */
	th_req(&t, "POST", "/v1/hosts", t.admin,
	       "{\"name\":\"both\",\"cpus\":2,\"platforms\":[\"kvm\",\"process\"]}", NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	snprintf(path, sizeof(path), "/v1/hosts/%s", th_str(&r, "id"));
	th_resp_free(&r);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(json_object_object_get_ex(r.json, "capabilities", &caps));
	ck_assert(json_object_object_get_ex(caps, "platforms", &v));
	ck_assert_uint_eq(json_object_array_length(v), 2);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 1)), "process");
	th_resp_free(&r);

	/* one ready host offers kvm, another process (heartbeats carry them), a
	 * third says nothing about platforms */
	th_host(&t, "plain-host", 4, 4096, "[]", nh, sizeof(nh), ntok, sizeof(ntok));
	th_host(&t, "kvm-host", 4, 4096, "[]", kh, sizeof(kh), ktok, sizeof(ktok));
	heartbeat_platforms(kh, ktok, "[\"kvm\"]");
	th_host(&t, "proc-host", 4, 4096, "[]", ph, sizeof(ph), ptok, sizeof(ptok));
	heartbeat_platforms(ph, ptok, "[\"process\"]");
	snprintf(path, sizeof(path), "/v1/hosts/%s", ph);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\"platforms\":[\"process\"]"));
	th_resp_free(&r);

	th_req(&t, "POST", "/v1/guests", t.admin, platform_guest("on-kvm", "kvm"), NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	ck_assert_str_eq(th_str(&r, "host_id"), kh);
	th_resp_free(&r);
	th_req(&t, "POST", "/v1/guests", t.admin, platform_guest("on-proc", "process"), NULL, &r);
	ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
	ck_assert_str_eq(th_str(&r, "host_id"), ph);
	ck_assert_str_eq(th_str(&r, "platform"), ""); /* null: nothing reported yet */
	ck_assert(json_object_object_get_ex(r.json, "platform", &v) && !v);
	snprintf(gid, sizeof(gid), "%s", th_str(&r, "id"));
	th_resp_free(&r);

	/* the kvm host is refused for a process guest, with the reason */
	th_req(&t, "POST", "/v1/placements/explain", t.admin, platform_guest("what-if", "process"),
	       NULL, &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	ck_assert_msg(strstr(r.body, "does not offer platform process (offers: kvm)"), "%s",
		      r.body);
	ck_assert_msg(strstr(r.body, "does not offer platform process (offers: none reported)"),
		      "%s", r.body);
	th_resp_free(&r);

	/* the host reports the platform its VMM runs the guest on */
	snprintf(path, sizeof(path), "/v1/guests/%s", gid);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	snprintf(etag, sizeof(etag), "%s", r.etag);
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/guests/%s/reports", gid);
	th_req(&t, "POST", path, ptok, "{\"observed_state\":\"running\",\"platform\":\"process\"}",
	       NULL, &r);
	ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/guests/%s", gid);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(th_str(&r, "platform"), "process");
	ck_assert(json_object_object_get_ex(r.json, "spec", &v));
	ck_assert_str_eq(json_object_get_string(json_object_object_get(v, "platform")), "process");
	ck_assert_str_ne(r.etag, etag);
	th_resp_free(&r);

	th_req(&t, "GET", "/metrics", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE pvm_host_platforms gauge"));
	snprintf(line, sizeof(line),
		 "pvm_host_platforms{host=\"%s\",name=\"proc-host\",platform=\"process\"} 1\n", ph);
	ck_assert_msg(strstr(r.body, line), "no %s in\n%s", line, r.body);
	snprintf(line, sizeof(line),
		 "pvm_host_platforms{host=\"%s\",name=\"kvm-host\",platform=\"kvm\"} 1\n", kh);
	ck_assert_msg(strstr(r.body, line), "no %s in\n%s", line, r.body);
	snprintf(line, sizeof(line),
		 "pvm_guest_info{guest=\"%s\",name=\"on-proc\",kind=\"microguest\","
		 "platform=\"process\"} 1\n",
		 gid);
	ck_assert_msg(strstr(r.body, line), "no %s in\n%s", line, r.body);
	ck_assert_ptr_nonnull(
	    strstr(r.body, "name=\"on-kvm\",kind=\"microguest\",platform=\"\"} 1"));
	th_resp_free(&r);

	/* the OpenAPI document names the platforms */
	th_req(&t, "GET", "/v1/openapi.json", t.admin, NULL, NULL, &r);
	ck_assert(json_object_object_get_ex(r.json, "components", &sch));
	ck_assert(json_object_object_get_ex(sch, "schemas", &sch));
	v = json_object_object_get(
	    json_object_object_get(json_object_object_get(sch, "GuestSpec"), "properties"),
	    "platform");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(json_object_to_json_string(json_object_object_get(v, "enum")),
			 "[ \"kvm\", \"process\" ]");
	v = json_object_object_get(
	    json_object_object_get(json_object_object_get(sch, "Heartbeat"), "properties"),
	    "platforms");
	ck_assert_ptr_nonnull(json_object_object_get(v, "items"));
	th_resp_free(&r);
}
END_TEST

START_TEST(metrics_open_when_configured)
{
	struct api_config c = {.metrics_open = true};
	struct th_resp r;

	th_cleanup(&t);
	th_start(&t, &c);
	th_req(&t, "GET", "/metrics", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "# TYPE pvm_api_requests_total counter"));
	th_resp_free(&r);
	/* everything else still wants a token */
	th_req(&t, "GET", "/v1/hosts", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401);
	th_resp_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_routes");
	TCase *tc = tcase_create("routes");
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_ALL);
	pvm_log_init("test", PVM_LOG_WARN, PVM_LOG_TEXT);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, health_and_version);
	tcase_add_test(tc, openapi_matches_router);
	tcase_add_test(tc, tokens_create_list_revoke);
	tcase_add_test(tc, tokens_ttl);
	tcase_add_test(tc, token_works_then_expires);
	tcase_add_test(tc, auth_401_vs_403);
	tcase_add_test(tc, hosts_lifecycle);
	tcase_add_test(tc, guests_lifecycle);
	tcase_add_test(tc, guest_without_host_stays_pending);
	tcase_add_test(tc, images_lifecycle);
	tcase_add_test(tc, idempotency_key);
	tcase_add_test(tc, cursor_pagination);
	tcase_add_test(tc, events_long_poll_and_sse);
	tcase_add_test(tc, assignments_wake_on_bind);
	tcase_add_test(tc, unreachable_host_is_evacuated);
	tcase_add_test(tc, graceful_stop_answers_long_poll);
	tcase_add_test(tc, metrics_open_when_configured);
	tcase_add_test(tc, drain_moves_guests);
	tcase_add_test(tc, reports_feed_the_scheduler);
	tcase_add_test(tc, exits_feed_the_scheduler);
	tcase_add_test(tc, reports_relay_exits_and_agent);
	tcase_add_test(tc, stranded_guest_is_unknown);
	tcase_add_test(tc, rebalance_proposes_and_applies);
	tcase_add_test(tc, metrics_escape_labels);
	tcase_add_test(tc, metrics_report_overcommit);
	tcase_add_test(tc, platforms_round_trip);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
