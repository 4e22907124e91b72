/* SPDX-License-Identifier: MIT */
/*
 * Crash safety: a child process writes in a loop (multi-row transactions) and
 * reports each id through a pipe after its commit returned; the parent
 * SIGKILLs it at a random moment, 50 times. After each kill the database
 * passes the backend's integrity check, every reported write is present, and no
 * transaction is half there.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/store/helpers.h"

#define ROUNDS	  50
#define RECORD_SZ 40 /* one id + newline, padded: below PIPE_BUF, so atomic */

static struct tdir td;

static void setup(void)
{
	tdir_make(&td);
}

static void teardown(void)
{
	tdir_remove(&td);
}

/* The child: never returns. */
static void writer(const char *db, int round, int fd)
{
	struct store_hook_stat st = {.hook = "console", .calls = 1};
	struct pvm_err err = {0};
	struct store *s = NULL;
	char rec[RECORD_SZ];
	struct store_guest g;
	int n;

	if (store_open(db, NULL, &s, &err) < 0)
		_exit(2);
	for (n = 0;; n++) {
		memset(&g, 0, sizeof(g));
		snprintf(g.name, sizeof(g.name), "r%d-%d", round, n);
		g.spec = "{\"image\":\"console\"}";
		g.vcpus = 1;
		/* guest + event + hook stats + rollup + kv: one transaction. */
		if (store_tx_begin(s, &err) < 0)
			_exit(3);
		if (store_guest_create(s, &g, &err) < 0 ||
		    store_hook_stats_put(s, g.id, &st, 1, 0, &err) < 0 ||
		    store_kv_put(s, "crash", g.id, "{\"ok\":true}", &err) < 0)
			_exit(4);
		if (store_tx_commit(s, &err) < 0)
			_exit(5);
		memset(rec, ' ', sizeof(rec));
		memcpy(rec, g.id, strlen(g.id));
		rec[RECORD_SZ - 1] = '\n';
		if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
			_exit(6);
	}
}

struct reported {
	char *buf;
	size_t len, cap;
};

static void drain(int fd, struct reported *r, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t end = pvm_now_ns() + (uint64_t)timeout_ms * 1000000;
	ssize_t got;
	int left;

	for (;;) {
		left = timeout_ms < 0 ? -1 : (int)((int64_t)(end - pvm_now_ns()) / 1000000);
		if (timeout_ms >= 0 && (int64_t)(end - pvm_now_ns()) <= 0)
			return;
		if (poll(&p, 1, left) <= 0)
			return;
		if (r->cap - r->len < 4096) {
			r->cap = r->cap ? r->cap * 2 : 65536;
			r->buf = realloc(r->buf, r->cap);
			ck_assert_ptr_nonnull(r->buf);
		}
		got = read(fd, r->buf + r->len, r->cap - r->len);
		if (got <= 0)
			return; /* EOF: the child is gone */
		r->len += (size_t)got;
	}
}

/* Reads until the first whole record arrived (or the child is gone). */
static void drain_first(int fd, pid_t pid, struct reported *r)
{
	uint64_t end = pvm_now_ns() + 30ull * 1000000000;
	siginfo_t info;

	while (r->len < RECORD_SZ && pvm_now_ns() < end) {
		drain(fd, r, 100);
		/* Exited already? Look without reaping it. */
		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    info.si_pid == pid)
			return;
	}
}

START_TEST(test_sigkill_loop)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int64_t total_reported = 0;
	struct store *s;
	int round;

	fprintf(stderr, "store_crash: seed %u\n", seed);
	s = tdir_open(&td); /* migrated once up front */
	store_close(s);

	for (round = 0; round < ROUNDS; round++) {
		struct reported r = {0};
		struct pvm_err err = {0};
		struct store_guest g;
		int fds[2], status;
		char *v;
		pid_t pid;
		size_t i;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			writer(td.db, round, fds[1]);
		}
		close(fds[1]);
		/*
		 * A random moment: odd rounds count from the fork, so some kills
		 * land while the child opens the store; even rounds count from
		 * its first commit, so they land mid-stream however slow the
		 * machine is.
		 */
		if (round % 2 == 0)
			drain_first(fds[0], pid, &r);
		drain(fds[0], &r, 1 + (int)(rand_r(&seed) % 60));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			      "writer exited by itself (status %d) in round %d", status, round);
		drain(fds[0], &r, -1);
		close(fds[0]);
		ck_assert_int_eq(r.len % RECORD_SZ, 0);

		s = tdir_open(&td);
		ck_assert_msg(store_check_integrity(s, &err) == 0, "round %d: %s", round, err.msg);
		for (i = 0; i < r.len; i += RECORD_SZ) {
			char id[STORE_ID_MAX];

			memcpy(id, r.buf + i, 36);
			id[36] = '\0';
			ck_assert_msg(store_guest_get(s, id, &g, &err) == 0,
				      "round %d: committed guest %s is missing: %s", round, id,
				      err.msg);
			store_guest_free(&g);
			ck_assert_msg(store_kv_get(s, "crash", id, &v, &err) == 0,
				      "round %d: kv of %s is missing", round, id);
			free(v);
		}
		total_reported += (int64_t)(r.len / RECORD_SZ);
		store_close(s);
		free(r.buf);

		/* All or nothing: every guest has its event, stats and kv row. */
		ck_assert_int_eq(tdir_int(&td, "SELECT COUNT(*) FROM guests WHERE id NOT IN "
					       "(SELECT subject FROM events "
					       "WHERE type = 'guest.created')"),
				 0);
		ck_assert_int_eq(tdir_int(&td, "SELECT COUNT(*) FROM guests WHERE id NOT IN "
					       "(SELECT guest_id FROM hook_stats)"),
				 0);
		ck_assert_int_eq(tdir_int(&td, "SELECT COUNT(*) FROM guests") -
				     tdir_int(&td, "SELECT COUNT(*) FROM kv WHERE ns = 'crash'"),
				 0);
	}
	fprintf(stderr, "store_crash: %lld writes reported committed over %d kills\n",
		(long long)total_reported, ROUNDS);
	ck_assert_int_gt(total_reported, 0);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("store_crash");
	TCase *tc = tcase_create("crash");
	SRunner *sr;
	int failed;

	if (tdir_backend() == 77)
		return 77;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sigkill_loop);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
