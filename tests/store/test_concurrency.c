/* SPDX-License-Identifier: MIT */
/*
 * Concurrent writers: 32 threads sharing one struct store lose nothing;
 * concurrent binds never overcommit a host; read-modify-write with
 * generations loses no update; two processes writing the same store both
 * land; a process waiting for events wakes for another process's commit
 * (LISTEN/NOTIFY on PostgreSQL, inotify on SQLite), and an unrelated write
 * does not end its wait.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/store/helpers.h"

#define THREADS		32
#define CREATES_PER_THR 40

static struct tdir td;
static struct store *s;

static void setup(void)
{
	tdir_make(&td);
	s = tdir_open(&td);
}

static void teardown(void)
{
	store_close(s);
	tdir_remove(&td);
}

struct worker {
	pthread_t th;
	int idx;
	int ok;
	int nospc;
	int failed;
	char ids[CREATES_PER_THR][STORE_ID_MAX];
	const char *host_id;
	char (*guest_ids)[STORE_ID_MAX];
	char msg[PVM_ERR_MSG_MAX];
};

static void *create_worker(void *arg)
{
	struct worker *w = arg;
	struct pvm_err err = {0};
	struct store_guest g;
	int i;

	for (i = 0; i < CREATES_PER_THR; i++) {
		memset(&g, 0, sizeof(g));
		snprintf(g.name, sizeof(g.name), "t%d-g%d", w->idx, i);
		g.spec = "{}";
		if (store_guest_create(s, &g, &err) < 0) {
			w->failed++;
			snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
			continue;
		}
		memcpy(w->ids[i], g.id, STORE_ID_MAX);
		w->ok++;
	}
	return NULL;
}

START_TEST(test_32_threads_create)
{
	static struct worker w[THREADS];
	struct store_event_list ev;
	struct pvm_err err = {0};
	struct store_guest g;
	int64_t prev = 0, created = 0, since = 0;
	int i, j;

	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].idx = i;
		ck_assert_int_eq(pthread_create(&w[i].th, NULL, create_worker, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].th, NULL);
		ck_assert_msg(w[i].failed == 0, "thread %d: %d failures: %s", i, w[i].failed,
			      w[i].msg);
		ck_assert_int_eq(w[i].ok, CREATES_PER_THR);
	}
	for (i = 0; i < THREADS; i++) {
		for (j = 0; j < CREATES_PER_THR; j++) {
			ck_assert_msg(store_guest_get(s, w[i].ids[j], &g, &err) == 0, "%s: %s",
				      w[i].ids[j], err.msg);
			store_guest_free(&g);
		}
	}
	/* One creation event each, sequence strictly increasing. */
	do {
		ck_assert_int_eq(store_events_since(s, since, STORE_LIST_MAX, &ev, &err), 0);
		for (i = 0; i < (int)ev.n; i++) {
			ck_assert_int_gt(ev.items[i].seq, prev);
			prev = ev.items[i].seq;
			created += !strcmp(ev.items[i].type, STORE_EV_GUEST_CREATED);
		}
		since = ev.last_seq;
		j = (int)ev.n;
		store_event_list_free(&ev);
	} while (j > 0);
	ck_assert_int_eq(created, THREADS * CREATES_PER_THR);
}
END_TEST

static void *bind_worker(void *arg)
{
	struct worker *w = arg;
	struct pvm_err err = {0};
	int i, ret;

	for (i = 0; i < 10; i++) {
		ret = store_guest_bind(s, w->guest_ids[w->idx * 10 + i], 0, w->host_id, NULL, NULL,
				       &err);
		if (ret == 0)
			w->ok++;
		else if (ret == -ENOSPC)
			w->nospc++;
		else
			w->failed++;
	}
	return NULL;
}

START_TEST(test_concurrent_binds_never_overcommit)
{
	static struct worker w[THREADS];
	static char ids[THREADS * 10][STORE_ID_MAX];
	struct store_guest_list gl;
	struct store_list_opts o = {.limit = STORE_LIST_MAX};
	struct pvm_err err = {0};
	struct store_host h;
	struct store_guest g;
	char name[32];
	int i, ok = 0, nospc = 0;

	/* Memory runs out after exactly 100 guests; vCPUs never do. */
	make_host(s, "h", 8, 100 * 64, 1000, &h);
	for (i = 0; i < THREADS * 10; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		make_guest(s, name, 1, 64, 1, &g);
		memcpy(ids[i], g.id, STORE_ID_MAX);
	}
	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].idx = i;
		w[i].host_id = h.id;
		w[i].guest_ids = ids;
		ck_assert_int_eq(pthread_create(&w[i].th, NULL, bind_worker, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].th, NULL);
		ck_assert_int_eq(w[i].failed, 0);
		ok += w[i].ok;
		nospc += w[i].nospc;
	}
	ck_assert_int_eq(ok, 100);
	ck_assert_int_eq(nospc, THREADS * 10 - 100);
	ck_assert_int_eq(store_host_get(s, h.id, &h, &err), 0);
	ck_assert_int_eq(h.free_cpus, 8 - 100);
	ck_assert_int_eq(h.free_memory_mib, 0);
	store_host_free(&h);
	o.host_id = h.id;
	ck_assert_int_eq(store_guest_list(s, &o, &gl, &err), 0);
	ck_assert_int_eq(gl.n, 100);
	store_guest_list_free(&gl);
}
END_TEST

static const char *counter_id;

static void *increment_worker(void *arg)
{
	struct worker *w = arg;
	struct pvm_err err = {0};
	struct store_guest g;
	char spec[64];
	int done = 0, ret;
	long n;

	while (done < 20) {
		ck_assert_int_eq(store_guest_get(s, counter_id, &g, &err), 0);
		n = strtol(g.spec + 5, NULL, 10); /* {"n":N} */
		free(g.spec);
		snprintf(spec, sizeof(spec), "{\"n\":%ld}", n + 1);
		g.spec = spec;
		ret = store_guest_update(s, &g, &err);
		if (ret == 0)
			done++;
		else if (ret == -ESTALE)
			w->nospc++; /* conflicts seen */
		else
			w->failed++;
		if (w->failed)
			break;
	}
	return NULL;
}

START_TEST(test_optimistic_updates_lose_nothing)
{
	static struct worker w[8];
	struct pvm_err err = {0};
	struct store_guest g = {0};
	int i, conflicts = 0;

	snprintf(g.name, sizeof(g.name), "counter");
	g.spec = "{\"n\":0}";
	ck_assert_int_eq(store_guest_create(s, &g, &err), 0);
	counter_id = g.id;
	for (i = 0; i < 8; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		ck_assert_int_eq(pthread_create(&w[i].th, NULL, increment_worker, &w[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(w[i].th, NULL);
		ck_assert_int_eq(w[i].failed, 0);
		conflicts += w[i].nospc;
	}
	fprintf(stderr, "optimistic updates: %d conflicts retried\n", conflicts);
	ck_assert_int_eq(store_guest_get(s, counter_id, &g, &err), 0);
	ck_assert_str_eq(g.spec, "{\"n\":160}");
	ck_assert_int_eq(g.generation, 161);
	store_guest_free(&g);
}
END_TEST

START_TEST(test_two_processes)
{
	struct store_image_list l;
	struct store_list_opts o = {.limit = STORE_LIST_MAX};
	struct pvm_err err = {0};
	pid_t pids[2];
	int i, status;

	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct store *cs = NULL;
			struct store_image im;
			int n;

			if (store_open(td.db, NULL, &cs, &err) < 0)
				_exit(2);
			for (n = 0; n < 200; n++) {
				memset(&im, 0, sizeof(im));
				snprintf(im.name, sizeof(im.name), "p%d-%d", i, n);
				snprintf(im.format, sizeof(im.format), "raw");
				im.source = "/img";
				if (store_image_create(cs, &im, &err) < 0)
					_exit(3);
			}
			store_close(cs);
			_exit(0);
		}
	}
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: %d", i,
			      status);
	}
	ck_assert_int_eq(store_image_list(s, &o, &l, &err), 0);
	ck_assert_int_eq(l.n, 400);
	store_image_list_free(&l);
}
END_TEST

/*
 * Another process's events wake a waiter long before its timeout: the child
 * appends one event while the parent waits with a 20 s bound. A write
 * without an event (a kv row) does not end a wait.
 */
START_TEST(test_events_wake_other_process)
{
	struct pvm_err err = {0};
	struct store_host h;
	int64_t last = 0;
	int status;
	pid_t pid;

	ck_assert_int_eq(store_events_last_seq(s, &last, &err), 0);
	/* The watcher runs once a wait began: start it before the child writes. */
	ck_assert_int_eq(store_events_wait(s, last, 10, &err), -ETIMEDOUT);
	ck_assert_int_eq(store_kv_put(s, "test", "k", "{}", &err), 0);
	ck_assert_int_eq(store_events_wait(s, last, 300, &err), -ETIMEDOUT);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store *cs = NULL;

		usleep(200 * 1000);
		if (store_open(td.db, NULL, &cs, &err) < 0)
			_exit(2);
		memset(&h, 0, sizeof(h));
		snprintf(h.name, sizeof(h.name), "other");
		snprintf(h.address, sizeof(h.address), "10.0.0.9:7070");
		h.cpus = 1;
		if (store_host_create(cs, &h, &err) < 0)
			_exit(3);
		store_close(cs);
		_exit(0);
	}
	/* 0, not -ETIMEDOUT: only a wake-up from the child's commit ends it so. */
	ck_assert_msg(store_events_wait(s, last, 20000, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %d", status);
	ck_assert_int_eq(store_host_get_by_name(s, "other", &h, &err), 0);
	store_host_free(&h);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("store_concurrency");
	TCase *tc = tcase_create("concurrency");
	SRunner *sr;
	int failed;

	if (tdir_backend() == 77)
		return 77;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_32_threads_create);
	tcase_add_test(tc, test_concurrent_binds_never_overcommit);
	tcase_add_test(tc, test_optimistic_updates_lose_nothing);
	tcase_add_test(tc, test_two_processes);
	tcase_add_test(tc, test_events_wake_other_process);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
