/* SPDX-License-Identifier: MIT */
/*
 * The auth matrix: every route (and HEAD beside every GET) by every kind of
 * caller (admin, operator, reader, a host token for its own host, one for
 * another host, no token, a malformed header, an expired token), each answer
 * checked against the route table's roles: 2xx where allowed, 401 with
 * WWW-Authenticate without a valid token, 403 otherwise. The table in
 * docs/api.md between the roles markers is this matrix as the route table
 * gives it; the test fails, printing the table, when the two differ.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "common/common.h"
#include "tests/api/harness.h"

#define ID 64

enum who {
	W_ADMIN,
	W_OPERATOR,
	W_READER,
	W_HOST_OWN,
	W_HOST_OTHER,
	W_NONE,
	W_MALFORMED,
	W_EXPIRED,
	W_N
};

static const char *const who_name[W_N] = {
    "admin", "operator", "reader", "host (own)", "host (other)", "no token", "malformed", "expired",
};

static struct th t;
static char tok[W_N][160], host_a[ID], host_b[ID], guest_a[ID], image[ID], token_id[ID];

static void setup(void)
{
	struct api_config c = {.heartbeat_s = 30};
	struct store_token x = {.role = STORE_ROLE_READER};
	struct pvm_err err = {0};
	struct th_resp r;

	th_start(&t, &c);
	snprintf(tok[W_ADMIN], sizeof(tok[0]), "%s", t.admin);
	th_token(&t, "operator", tok[W_OPERATOR], sizeof(tok[0]), NULL, 0);
	th_token(&t, "reader", tok[W_READER], sizeof(tok[0]), token_id, sizeof(token_id));
	th_host(&t, "host-a", 64, 65536, "[\"console\"]", host_a, sizeof(host_a), tok[W_HOST_OWN],
		sizeof(tok[0]));
	th_host(&t, "host-b", 1, 64, "[]", host_b, sizeof(host_b), tok[W_HOST_OTHER],
		sizeof(tok[0]));
	snprintf(x.name, sizeof(x.name), "stale");
	x.expires_ms = (int64_t)(pvm_wall_ns() / 1000000) - 1000;
	ck_assert_msg(store_token_create(t.st, &x, tok[W_EXPIRED], &err) == 0, "%s", err.msg);
	/* the guests go to host-a: host-b only speaks for another host */
	snprintf(x.name, sizeof(x.name), "/v1/hosts/%s", host_b);
	th_req(&t, "PATCH", x.name, t.admin, "{\"cordoned\":true}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	th_req(&t, "POST", "/v1/guests", t.admin,
	       "{\"name\":\"on-a\",\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":16}", NULL, &r);
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(th_str(&r, "host_id"), host_a);
	snprintf(guest_a, sizeof(guest_a), "%s", th_str(&r, "id"));
	th_resp_free(&r);
	th_req(&t, "POST", "/v1/images", t.admin,
	       "{\"name\":\"img\",\"format\":\"elf\",\"source\":\"/x.elf\",\"size_bytes\":1}", NULL,
	       &r);
	ck_assert_int_eq(r.status, 201);
	snprintf(image, sizeof(image), "%s", th_str(&r, "id"));
	th_resp_free(&r);
}

static void teardown(void)
{
	th_cleanup(&t);
}

/* A fresh resource an admin makes, for a DELETE to consume. */
static void fresh(const char *path, const char *body, char *id, size_t len)
{
	struct th_resp r;

	th_req(&t, "POST", path, t.admin, body, NULL, &r);
	ck_assert_msg(r.status == 201, "%s: %ld %s", path, r.status, r.body);
	snprintf(id, len, "%s", th_str(&r, "id"));
	th_resp_free(&r);
}

/* The request that exercises route r by caller w: its path and body. */
static void request_for(const struct api_route *r, enum who w, char *path, size_t plen, char *body,
			size_t blen)
{
	static int n;
	bool del = strcmp(r->method, "DELETE") == 0;
	const char *p = r->pattern;
	char id[ID];
	int k = __atomic_fetch_add(&n, 1, __ATOMIC_SEQ_CST);

	body[0] = '\0';
	snprintf(path, plen, "%s", p);
	if (strcmp(p, "/v1/tokens") == 0) {
		snprintf(body, blen, "{\"name\":\"m-%d\",\"role\":\"reader\"}", k);
	} else if (strcmp(p, "/v1/tokens/{id}") == 0) {
		if (del) {
			snprintf(body, blen, "{\"name\":\"d-%d\",\"role\":\"reader\"}", k);
			fresh("/v1/tokens", body, id, sizeof(id));
			body[0] = '\0';
		}
		snprintf(path, plen, "/v1/tokens/%s", del ? id : token_id);
	} else if (strcmp(p, "/v1/hosts") == 0) {
		/* a host token registers (again) as the host it speaks for */
		if (w == W_HOST_OWN || w == W_HOST_OTHER)
			snprintf(body, blen, "{\"name\":\"%s\",\"cpus\":1,\"memory_mib\":64}",
				 w == W_HOST_OWN ? "host-a" : "host-b");
		else
			snprintf(body, blen, "{\"name\":\"spare-%d\",\"cpus\":1,\"memory_mib\":64}",
				 k);
	} else if (strcmp(p, "/v1/hosts/{id}") == 0) {
		if (del) {
			snprintf(body, blen, "{\"name\":\"gone-%d\",\"cpus\":1,\"memory_mib\":64}",
				 k);
			fresh("/v1/hosts", body, id, sizeof(id));
			body[0] = '\0';
		} else if (strcmp(r->method, "PATCH") == 0) {
			snprintf(body, blen, "{\"labels\":{\"k\":\"%d\"}}", k);
		}
		snprintf(path, plen, "/v1/hosts/%s", del ? id : host_a);
	} else if (strcmp(p, "/v1/hosts/{id}/heartbeat") == 0) {
		snprintf(path, plen, "/v1/hosts/%s/heartbeat", host_a);
		snprintf(body, blen, "{}");
	} else if (strcmp(p, "/v1/hosts/{id}/assignments") == 0) {
		snprintf(path, plen, "/v1/hosts/%s/assignments?wait=0", host_a);
	} else if (strcmp(p, "/v1/guests") == 0 || strcmp(p, "/v1/placements/explain") == 0) {
		snprintf(body, blen,
			 "{\"name\":\"g-%d\",\"image\":\"x.elf\",\"vcpus\":1,"
			 "\"memory_mib\":16}",
			 k);
	} else if (strcmp(p, "/v1/guests/{id}") == 0) {
		if (del) {
			snprintf(body, blen,
				 "{\"name\":\"d-%d\",\"image\":\"x.elf\",\"vcpus\":1,"
				 "\"memory_mib\":16}",
				 k);
			fresh("/v1/guests", body, id, sizeof(id));
			body[0] = '\0';
		} else if (strcmp(r->method, "PATCH") == 0) {
			snprintf(body, blen, "{\"restart_policy\":\"on-failure\"}");
		}
		snprintf(path, plen, "/v1/guests/%s", del ? id : guest_a);
	} else if (strcmp(p, "/v1/guests/{id}/reports") == 0) {
		snprintf(path, plen, "/v1/guests/%s/reports", guest_a);
		snprintf(body, blen, "{\"observed_state\":\"running\"}");
	} else if (strcmp(p, "/v1/images") == 0) {
		snprintf(body, blen,
			 "{\"name\":\"i-%d\",\"format\":\"elf\",\"source\":\"/x\","
			 "\"size_bytes\":1}",
			 k);
	} else if (strcmp(p, "/v1/images/{id}") == 0) {
		if (del) {
			snprintf(body, blen,
				 "{\"name\":\"d-%d\",\"format\":\"elf\",\"source\":\"/x\","
				 "\"size_bytes\":1}",
				 k);
			fresh("/v1/images", body, id, sizeof(id));
			body[0] = '\0';
		}
		snprintf(path, plen, "/v1/images/%s", del ? id : image);
	} else if (strcmp(p, "/v1/events") == 0) {
		snprintf(path, plen, "/v1/events?since=0&wait=0");
	} else if (strcmp(p, "/v1/rebalance") == 0) {
		snprintf(body, blen, "{\"apply\":false}");
	}
	ck_assert_msg(!strchr(path, '{'), "no request for %s %s", r->method, p);
}

static unsigned role_bit(enum who w)
{
	static const unsigned bits[W_N] = {
	    [W_ADMIN] = API_ROLE_ADMIN,	    [W_OPERATOR] = API_ROLE_OPERATOR,
	    [W_READER] = API_ROLE_READER,   [W_HOST_OWN] = API_ROLE_HOST,
	    [W_HOST_OTHER] = API_ROLE_HOST,
	};
	return bits[w];
}

/* What the route table says caller w gets: 200 (any 2xx), 401 or 403. */
static int expected(const struct api_route *r, enum who w)
{
	if (r->roles == API_ROLE_PUBLIC)
		return 200;
	if (w >= W_NONE)
		return 401;
	if (!(r->roles & role_bit(w)))
		return 403;
	if (w == W_HOST_OTHER && r->host_own)
		return 403;
	return 200;
}

START_TEST(every_route_by_every_caller)
{
	unsigned checked = 0;

	for (size_t i = 0; i < api_nroutes; i++) {
		const struct api_route *r = &api_routes[i];

		for (int head = 0; head <= (strcmp(r->method, "GET") == 0); head++) {
			for (int w = 0; w < W_N; w++) {
				const char *method = head ? "HEAD" : r->method;
				const char *bad[] = {"Authorization: Basic cm9vdDpyb290", NULL};
				char path[256], body[512];
				int want = expected(r, (enum who)w);
				struct th_resp a;

				request_for(r, (enum who)w, path, sizeof(path), body, sizeof(body));
				th_req(&t, method, path,
				       w == W_NONE || w == W_MALFORMED ? NULL : tok[w],
				       body[0] ? body : NULL, w == W_MALFORMED ? bad : NULL, &a);
				if (want == 200)
					ck_assert_msg(a.status >= 200 && a.status < 300,
						      "%s %s by %s: %ld, wanted 2xx: %s", method,
						      path, who_name[w], a.status,
						      a.body ? a.body : "");
				else
					ck_assert_msg(a.status == want,
						      "%s %s by %s: %ld, wanted %d: %s", method,
						      path, who_name[w], a.status, want,
						      a.body ? a.body : "");
				if (want == 401)
					ck_assert_msg(strncmp(a.www_auth, "Bearer", 6) == 0,
						      "%s %s by %s: 401 without WWW-Authenticate",
						      method, path, who_name[w]);
				if (want == 401 && w == W_EXPIRED && !head)
					ck_assert_str_eq(th_problem(&a), "token-expired");
				th_resp_free(&a);
				checked++;
			}
		}
	}
	/* every route, HEAD beside each GET, by every caller */
	ck_assert_uint_ge(checked, api_nroutes * W_N);
}
END_TEST

/* The matrix as docs/api.md shows it. */
static void matrix_markdown(struct pvm_buf *b)
{
	pvm_buf_printf(b, "| route |");
	for (int w = 0; w < W_N; w++)
		pvm_buf_printf(b, " %s |", who_name[w]);
	pvm_buf_printf(b, "\n|---|");
	for (int w = 0; w < W_N; w++)
		pvm_buf_printf(b, "---|");
	pvm_buf_printf(b, "\n");
	for (size_t i = 0; i < api_nroutes; i++) {
		const struct api_route *r = &api_routes[i];

		pvm_buf_printf(b, "| `%s%s %s` |", r->method,
			       strcmp(r->method, "GET") == 0 ? "/HEAD" : "", r->pattern);
		for (int w = 0; w < W_N; w++) {
			int e = expected(r, (enum who)w);

			pvm_buf_printf(b, " %s |", e == 200 ? "yes" : e == 401 ? "401" : "403");
		}
		pvm_buf_printf(b, "\n");
	}
}

START_TEST(docs_show_the_matrix)
{
	static const char begin[] = "<!-- roles:begin -->\n", end[] = "<!-- roles:end -->";
	FILE *fp = fopen(PVM_SOURCE_DIR "/docs/api.md", "r");
	static char doc[1 << 17];
	size_t n;
	const char *a, *z;
	struct pvm_buf want;

	ck_assert_ptr_nonnull(fp);
	n = fread(doc, 1, sizeof(doc) - 1, fp);
	fclose(fp);
	doc[n] = '\0';
	pvm_buf_init(&want);
	matrix_markdown(&want);
	a = strstr(doc, begin);
	z = a ? strstr(a, end) : NULL;
	ck_assert_msg(a && z, "docs/api.md has no roles markers; the table is:\n%s", want.data);
	a += strlen(begin);
	ck_assert_msg((size_t)(z - a) == want.len && memcmp(a, want.data, want.len) == 0,
		      "docs/api.md's roles table differs from the route table's; it is:\n%s",
		      want.data);
	pvm_buf_free(&want);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("api_auth");
	TCase *tc = tcase_create("auth");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, every_route_by_every_caller);
	tcase_add_test(tc, docs_show_the_matrix);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
