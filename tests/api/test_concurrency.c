/* SPDX-License-Identifier: MIT */
/* 32 threads creating guests at once lose nothing and overbook no host. */
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/api/harness.h"

#define THREADS 32
#define PER	8

static struct th t;

struct worker {
	int n;
	char ids[PER][64];
	int ok;
};

static void *create(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER; i++) {
		struct th_resp r;
		char body[256];

		snprintf(body, sizeof(body),
			 "{\"name\":\"w%d-%d\",\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":64}",
			 w->n, i);
		th_req(&t, "POST", "/v1/guests", t.admin, body, NULL, &r);
		if (r.status == 201) {
			snprintf(w->ids[w->ok], 64, "%s", th_str(&r, "id"));
			w->ok++;
		}
		th_resp_free(&r);
	}
	return NULL;
}

START_TEST(concurrent_creates)
{
	static struct worker w[THREADS];
	pthread_t th[THREADS];
	char hid[64], htok[128], path[128];
	struct th_resp r;
	json_object *items;
	size_t n, bound = 0;

	th_start(&t, NULL);
	/* Room for 200 of the 256 guests: placement must not overbook under contention. */
	th_host(&t, "big", 200, 200 * 64, "[]", hid, sizeof(hid), htok, sizeof(htok));
	for (int i = 0; i < THREADS; i++) {
		w[i].n = i;
		pthread_create(&th[i], NULL, create, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(w[i].ok, PER);
	th_req(&t, "GET", "/v1/guests?limit=1000", t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(json_object_object_get_ex(r.json, "items", &items));
	n = json_object_array_length(items);
	ck_assert_uint_eq(n, THREADS * PER);
	for (int i = 0; i < THREADS; i++)
		for (int k = 0; k < PER; k++)
			ck_assert_msg(strstr(r.body, w[i].ids[k]), "lost %s", w[i].ids[k]);
	for (size_t i = 0; i < n; i++) {
		json_object *h =
		    json_object_object_get(json_object_array_get_idx(items, i), "host_id");

		bound += h != NULL;
	}
	ck_assert_uint_eq(bound, 200);
	th_resp_free(&r);
	snprintf(path, sizeof(path), "/v1/hosts/%s", hid);
	th_req(&t, "GET", path, t.admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_object_get_int(json_object_object_get(
			     json_object_object_get(r.json, "free"), "cpus")),
			 0);
	th_resp_free(&r);
	th_cleanup(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_concurrency");
	TCase *tc = tcase_create("concurrency");
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_ALL);
	pvm_log_init("test", PVM_LOG_ERROR, PVM_LOG_TEXT);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, concurrent_creates);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
