/* SPDX-License-Identifier: MIT */
/*
 * The real pvmd process: SIGKILL in the middle of a burst of writes leaves
 * a consistent store that the restarted server serves (every acknowledged
 * create is there), and SIGTERM answers the request in flight, then exits 0.
 */
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/api/harness.h"

#define WRITERS 8
#define MAX_IDS 4000

static char dir[128], base[64], admin[128];

static pid_t start_pvmd(void)
{
	return th_pvmd_start(PVMD_PATH, dir, base, sizeof(base));
}

static void read_admin(void)
{
	th_pvmd_admin(dir, admin, sizeof(admin));
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pvm-api-crash-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

struct writer {
	int n;
	int acked;
	char (*ids)[64];
	volatile bool *stop;
};

static void *burst(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; !*w->stop && w->acked < MAX_IDS / WRITERS; i++) {
		struct th_resp r;
		char body[256];

		snprintf(body, sizeof(body),
			 "{\"name\":\"b%d-%d\",\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":16}",
			 w->n, i);
		th_req_url(base, "POST", "/v1/guests", admin, body, NULL, &r);
		if (r.status == 201)
			snprintf(w->ids[w->acked++], 64, "%s", th_str(&r, "id"));
		th_resp_free(&r);
		if (r.status < 0)
			break; /* the server is gone */
	}
	return NULL;
}

static size_t count_guests(char *all, size_t cap)
{
	char next[64] = "", path[256];
	size_t n = 0, used = 0;

	do {
		struct th_resp r;
		json_object *items, *nx;

		snprintf(path, sizeof(path), "/v1/guests?limit=1000%s%s",
			 next[0] ? "&page_token=" : "", next);
		th_req_url(base, "GET", path, admin, NULL, NULL, &r);
		ck_assert_int_eq(r.status, 200);
		ck_assert(json_object_object_get_ex(r.json, "items", &items));
		n += json_object_array_length(items);
		used += (size_t)snprintf(all + used, cap - used, "%s", r.body);
		ck_assert_uint_lt(used, cap);
		next[0] = '\0';
		if (json_object_object_get_ex(r.json, "next_page_token", &nx) && nx)
			snprintf(next, sizeof(next), "%s", json_object_get_string(nx));
		th_resp_free(&r);
	} while (next[0]);
	return n;
}

START_TEST(sigkill_mid_burst)
{
	static struct writer w[WRITERS];
	static char ids[MAX_IDS][64];
	volatile bool stop = false;
	pthread_t th[WRITERS];
	char admin_before[128], path[256];
	size_t acked = 0, n, cap = 64u << 20;
	char *all = malloc(cap);
	struct store *st;
	struct th_resp r;
	pid_t pid;
	int status;

	pid = start_pvmd();
	read_admin();
	snprintf(admin_before, sizeof(admin_before), "%s", admin);
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){.n = i, .ids = ids + i * (MAX_IDS / WRITERS), .stop = &stop};
		pthread_create(&th[i], NULL, burst, &w[i]);
	}
	/* Kill once writes are surely under way. */
	for (int i = 0; i < 500; i++) {
		size_t sum = 0;

		for (int k = 0; k < WRITERS; k++)
			sum += (size_t)w[k].acked;
		if (sum >= 100)
			break;
		pvm_sleep_ns(10 * 1000000ull);
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	stop = true;
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		acked += (size_t)w[i].acked;
	}
	ck_assert_uint_ge(acked, 100);

	pid = start_pvmd();
	read_admin();
	ck_assert_str_eq(admin, admin_before); /* no second bootstrap token */
	n = count_guests(all, cap);
	ck_assert_uint_ge(n, acked);
	for (int i = 0; i < WRITERS; i++)
		for (int k = 0; k < w[i].acked; k++)
			ck_assert_msg(strstr(all, w[i].ids[k]), "acknowledged %s lost",
				      w[i].ids[k]);
	snprintf(path, sizeof(path), "/v1/guests/%s", w[0].ids[0]);
	th_req_url(base, "GET", path, admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	th_req_url(base, "POST", "/v1/guests", admin,
		   "{\"name\":\"after\",\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":16}", NULL,
		   &r);
	ck_assert_int_eq(r.status, 201);
	th_resp_free(&r);
	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	snprintf(path, sizeof(path), "%s/pvm.db", dir);
	ck_assert_int_eq(store_open(path, NULL, &st, NULL), 0);
	ck_assert_int_eq(store_check_integrity(st, NULL), 0);
	store_close(st);
	free(all);
}
END_TEST

struct poll {
	struct th_resp r;
};

static void *long_poll(void *arg)
{
	struct poll *p = arg;

	th_req_url(base, "GET", "/v1/events?since=1000000&wait=30", admin, NULL, NULL, &p->r);
	return NULL;
}

START_TEST(sigterm_finishes_in_flight)
{
	struct poll p;
	pthread_t th;
	pid_t pid;
	int status;

	pid = start_pvmd();
	read_admin();
	pthread_create(&th, NULL, long_poll, &p);
	pvm_sleep_ns(300 * 1000000ull);
	kill(pid, SIGTERM);
	pthread_join(th, NULL);
	ck_assert_int_eq(p.r.status, 200);
	ck_assert_ptr_nonnull(strstr(p.r.body, "\"events\":[]"));
	th_resp_free(&p.r);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_crash");
	TCase *tc = tcase_create("crash");
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_ALL);
	pvm_log_init("test", PVM_LOG_ERROR, PVM_LOG_TEXT);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, sigkill_mid_burst);
	tcase_add_test(tc, sigterm_finishes_in_flight);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
