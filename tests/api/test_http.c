/* SPDX-License-Identifier: MIT */
/*
 * HTTP as RFC 9110 says, against a real server over a real store: 405 with
 * Allow, HEAD wherever GET is served, If-None-Match, weak If-Match, an
 * idempotent replay's headers, and a host ETag that heartbeats leave alone.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/api/harness.h"

#define ID 64

static struct th t;

static void setup(void)
{
	struct api_config c = {.heartbeat_s = 5};

	th_start(&t, &c);
}

static void teardown(void)
{
	th_cleanup(&t);
}

static const char *guest_body = "{\"name\":\"web\",\"image\":\"console.elf\",\"vcpus\":1,"
				"\"memory_mib\":64}";

/* Creates the guest above; copies its path and quoted ETag. */
static void make_guest(char *path, size_t plen, char *etag, size_t elen)
{
	struct th_resp r;

	th_req(&t, "POST", "/v1/guests", t.admin, guest_body, NULL, &r);
	ck_assert_msg(r.status == 201, "create: %ld %s", r.status, r.body);
	snprintf(path, plen, "%s", r.location);
	snprintf(etag, elen, "%s", r.etag);
	th_resp_free(&r);
	ck_assert_int_eq(strncmp(path, "/v1/guests/", 11), 0);
	ck_assert_int_eq(etag[0], '"');
}

START_TEST(method_not_allowed_says_allow)
{
	struct th_resp r;

	th_req(&t, "DELETE", "/v1/hosts", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(r.allow, "POST, GET, HEAD");
	ck_assert_str_eq(th_problem(&r), "method-not-allowed");
	th_resp_free(&r);
	th_req(&t, "PUT", "/v1/guests/gst_x", t.admin, "{}", NULL, &r);
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(r.allow, "GET, HEAD, PATCH, DELETE");
	th_resp_free(&r);
	/* An unknown path is a 404 and names no methods. */
	th_req(&t, "DELETE", "/v1/nothing", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(r.allow, "");
	th_resp_free(&r);
}
END_TEST

START_TEST(head_wherever_get)
{
	static const char *const paths[] = {"/healthz",	   "/readyz",	       "/metrics",
					    "/v1/version", "/v1/openapi.json", "/v1/guests",
					    "/v1/hosts"};
	char path[256], etag[64];
	struct th_resp g, h;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		th_req(&t, "GET", paths[i], t.admin, NULL, NULL, &g);
		th_req(&t, "HEAD", paths[i], t.admin, NULL, NULL, &h);
		ck_assert_msg(h.status == g.status, "%s: HEAD %ld, GET %ld", paths[i], h.status,
			      g.status);
		ck_assert_msg(h.len == 0, "%s: HEAD sent a body", paths[i]);
		ck_assert_str_eq(h.ctype, g.ctype);
		th_resp_free(&g);
		th_resp_free(&h);
	}
	make_guest(path, sizeof(path), etag, sizeof(etag));
	th_req(&t, "HEAD", path, t.admin, NULL, NULL, &h);
	ck_assert_int_eq(h.status, 200);
	ck_assert_str_eq(h.etag, etag);
	th_resp_free(&h);
	/* HEAD is a read: a token that may not read is refused as for GET. */
	th_req(&t, "HEAD", "/v1/guests", NULL, NULL, NULL, &h);
	ck_assert_int_eq(h.status, 401);
	th_resp_free(&h);
}
END_TEST

START_TEST(if_none_match_is_304)
{
	char path[256], etag[64], hdr[160], weak[160], list[200];
	const char *h1[] = {hdr, NULL}, *h2[] = {weak, NULL}, *h3[] = {list, NULL};
	const char *other[] = {"If-None-Match: \"999\"", NULL}, *any[] = {"If-None-Match: *", NULL};
	struct th_resp r;

	make_guest(path, sizeof(path), etag, sizeof(etag));
	snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
	snprintf(weak, sizeof(weak), "If-None-Match: W/%s", etag);
	snprintf(list, sizeof(list), "If-None-Match: \"998\", %s", etag);
	th_req(&t, "GET", path, t.admin, NULL, h1, &r);
	ck_assert_int_eq(r.status, 304);
	ck_assert_int_eq(r.len, 0);
	ck_assert_str_eq(r.etag, etag);
	th_resp_free(&r);
	th_req(&t, "GET", path, t.admin, NULL, h2, &r);
	ck_assert_int_eq(r.status, 304);
	th_resp_free(&r);
	th_req(&t, "GET", path, t.admin, NULL, h3, &r);
	ck_assert_int_eq(r.status, 304);
	th_resp_free(&r);
	th_req(&t, "GET", path, t.admin, NULL, any, &r);
	ck_assert_int_eq(r.status, 304);
	th_resp_free(&r);
	th_req(&t, "GET", path, t.admin, NULL, other, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(r.json);
	th_resp_free(&r);
	/* Once the guest changes, the old ETag no longer matches. */
	th_req(&t, "PATCH", path, t.admin, "{\"desired_state\":\"stopped\"}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	th_req(&t, "GET", path, t.admin, NULL, h1, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_ne(r.etag, etag);
	th_resp_free(&r);
}
END_TEST

START_TEST(weak_if_match_never_matches)
{
	char path[256], etag[64], weak[160], strong[160];
	const char *hw[] = {weak, NULL}, *hs[] = {strong, NULL};
	char *before;
	struct th_resp r;

	make_guest(path, sizeof(path), etag, sizeof(etag));
	snprintf(weak, sizeof(weak), "If-Match: W/%s", etag);
	snprintf(strong, sizeof(strong), "If-Match: %s", etag);
	before = th_digest(&t);
	th_req(&t, "PATCH", path, t.admin, "{\"desired_state\":\"stopped\"}", hw, &r);
	ck_assert_int_eq(r.status, 412);
	ck_assert_str_eq(th_problem(&r), "precondition-failed");
	th_resp_free(&r);
	th_req(&t, "DELETE", path, t.admin, NULL, hw, &r);
	ck_assert_int_eq(r.status, 412);
	th_resp_free(&r);
	{
		char *after = th_digest(&t);

		ck_assert_str_eq(before, after);
		free(after);
	}
	free(before);
	th_req(&t, "PATCH", path, t.admin, "{\"desired_state\":\"stopped\"}", hs, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
}
END_TEST

START_TEST(replay_keeps_headers_and_ignores_whitespace)
{
	const char *key[] = {"Idempotency-Key: web-1", NULL};
	const char *spaced = "{ \"name\" : \"web\",\n\t\"image\":\"console.elf\", \"vcpus\": 1,"
			     "  \"memory_mib\" : 64 }\n";
	struct th_resp a, b;

	th_req(&t, "POST", "/v1/guests", t.admin, guest_body, key, &a);
	ck_assert_int_eq(a.status, 201);
	th_req(&t, "POST", "/v1/guests", t.admin, spaced, key, &b);
	ck_assert_msg(b.status == 201, "replay: %ld %s", b.status, b.body);
	ck_assert_str_eq(th_str(&b, "id"), th_str(&a, "id"));
	ck_assert_str_eq(b.location, a.location);
	ck_assert_str_ne(b.location, "");
	ck_assert_str_eq(b.etag, a.etag);
	th_resp_free(&b);
	th_resp_free(&a);
}
END_TEST

/* The ETag an operator cordons with survives the host's own heartbeats,
 * even ones that change what it reports. */
START_TEST(heartbeat_keeps_host_etag)
{
	char id[ID], tok[128], path[160], beat[200], etag[64], ifm[120];
	const char *hm[] = {ifm, NULL};
	struct th_resp r;

	th_host(&t, "h1", 4, 4096, "[\"console\"]", id, sizeof(id), tok, sizeof(tok));
	snprintf(path, sizeof(path), "/v1/hosts/%s", id);
	snprintf(beat, sizeof(beat), "/v1/hosts/%s/heartbeat", id);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	snprintf(etag, sizeof(etag), "%s", r.etag);
	th_resp_free(&r);
	th_req(&t, "POST", beat, tok,
	       "{\"hooks\":[{\"name\":\"console\",\"abi_version\":1},{\"name\":\"block\","
	       "\"abi_version\":1}],\"abi_versions\":[1],\"emulation\":true,\"drivers\":[\"hv\"],"
	       "\"cpus\":8,\"free\":{\"cpus\":7,\"memory_mib\":1000}}",
	       NULL, &r);
	ck_assert_msg(r.status == 200, "heartbeat: %ld %s", r.status, r.body);
	th_resp_free(&r);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.etag, etag);
	ck_assert_ptr_nonnull(strstr(r.body, "block"));
	th_resp_free(&r);
	snprintf(ifm, sizeof(ifm), "If-Match: %s", etag);
	th_req(&t, "PATCH", path, t.admin, "{\"cordoned\":true}", hm, &r);
	ck_assert_msg(r.status == 200, "cordon: %ld %s", r.status, r.body);
	ck_assert_str_ne(r.etag, etag);
	th_resp_free(&r);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("api_http");
	TCase *tc = tcase_create("http");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, method_not_allowed_says_allow);
	tcase_add_test(tc, head_wherever_get);
	tcase_add_test(tc, if_none_match_is_304);
	tcase_add_test(tc, weak_if_match_never_matches);
	tcase_add_test(tc, replay_keeps_headers_and_ignores_whitespace);
	tcase_add_test(tc, heartbeat_keeps_host_etag);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
