/* SPDX-License-Identifier: MIT */
/*
 * Online backup and restore: a backup taken while another process keeps
 * committing is a store of its own (it opens, passes the integrity check)
 * holding a consistent prefix of the writer's rows, one owner-only file; a
 * backup never overwrites; a restore puts it in place, refuses a store
 * already there unless asked, and refuses what is not a pvm store. On
 * PostgreSQL both say plainly that they are not supported yet.
 */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/store/helpers.h"

/* Filler, so that a backup takes many steps: 8000 rows of 4 KiB. */
#define FILL_ROWS  8000
#define FILL_BYTES 4096
/* Backups tried until one ran while the writer committed. */
#define TRIES 20

static struct tdir td;
static struct store *s;
static char bak[PATH_MAX + 32];

static void setup(void)
{
	tdir_make(&td);
	s = tdir_open(&td);
	snprintf(bak, sizeof(bak), "%s/backup.db", td.dir);
}

static void teardown(void)
{
	store_close(s);
	tdir_remove(&td);
}

static void put(struct store *st, const char *ns, const char *key, const char *value)
{
	struct pvm_err err = {0};

	ck_assert_msg(store_kv_put(st, ns, key, value, &err) == 0, "%s", err.msg);
}

static void fill(void)
{
	struct pvm_err err = {0};
	char *v = malloc(FILL_BYTES + 3), key[32];

	ck_assert_ptr_nonnull(v);
	memset(v, 'x', FILL_BYTES + 2);
	v[0] = v[FILL_BYTES + 1] = '"';
	v[FILL_BYTES + 2] = '\0';
	ck_assert_int_eq(store_tx_begin(s, &err), 0);
	for (int i = 0; i < FILL_ROWS; i++) {
		snprintf(key, sizeof(key), "f%06d", i);
		put(s, "fill", key, v);
	}
	ck_assert_msg(store_tx_commit(s, &err) == 0, "%s", err.msg);
	free(v);
}

/* What the writer process and the test share. */
struct shared {
	atomic_long written; /* rows committed: keys k00000000 .. */
	atomic_bool stop;
};

/* The writer: its own store on the same file, one commit per row. */
static void writer(struct shared *sh)
{
	struct store_options so = {.pool_size = 1};
	struct pvm_err err = {0};
	struct store *w = NULL;
	char key[32];
	int code = 0;

	if (store_open(td.db, &so, &w, &err) < 0)
		_exit(2);
	while (!atomic_load(&sh->stop)) {
		long n = atomic_load(&sh->written);

		snprintf(key, sizeof(key), "k%08ld", n);
		if (store_kv_put(w, "seq", key, "1", &err) < 0) {
			fprintf(stderr, "writer: %s\n", err.msg);
			code = 1;
			break;
		}
		atomic_store(&sh->written, n + 1);
	}
	store_close(w);
	_exit(code);
}

struct prefix {
	long n;
	bool gap;
};

static int seq_row(const char *key, const char *value, void *arg)
{
	struct prefix *p = arg;
	char want[32];

	(void)value;
	snprintf(want, sizeof(want), "k%08ld", p->n++);
	p->gap = p->gap || strcmp(key, want) != 0;
	return 0;
}

static int fill_row(const char *key, const char *value, void *arg)
{
	(void)key;
	(void)value;
	++*(long *)arg;
	return 0;
}

/* Opens the backup as a store, checks it, and counts the writer's rows. */
static long check_backup(const char *path, long before, long after)
{
	struct store_options so = {.no_create = true};
	struct pvm_err err = {0};
	struct prefix p = {0};
	struct store *b = NULL;
	char side[PATH_MAX + 128];
	struct stat st;
	long filled = 0;

	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600); /* it holds token hashes */
	snprintf(side, sizeof(side), "%s-wal", path);
	ck_assert_int_ne(access(side, F_OK), 0); /* one self-contained file */
	snprintf(side, sizeof(side), "%s.partial", path);
	ck_assert_int_ne(access(side, F_OK), 0);
	ck_assert_msg(store_open(path, &so, &b, &err) == 0, "%s", err.msg);
	ck_assert_msg(store_check_integrity(b, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_kv_foreach(b, "fill", fill_row, &filled, &err), 0);
	ck_assert_int_eq(filled, FILL_ROWS);
	ck_assert_int_eq(store_kv_foreach(b, "seq", seq_row, &p, &err), 0);
	store_close(b);
	/* every row committed before the backup began, none it could not have seen,
	 * and no row without the ones before it */
	ck_assert_msg(!p.gap, "the backup's rows are not a prefix");
	ck_assert_msg(p.n >= before && p.n <= after, "%ld rows, not in [%ld, %ld]", p.n, before,
		      after);
	return p.n;
}

START_TEST(backup_while_writing)
{
	struct shared *sh =
	    mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct pvm_err err = {0};
	long before = 0, after = 0;
	int status = 0, overlapped = 0;
	pid_t pid;

	ck_assert_ptr_ne(sh, MAP_FAILED);
	atomic_init(&sh->written, 0);
	atomic_init(&sh->stop, false);
	fill();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		writer(sh);
	while (atomic_load(&sh->written) < 100 && waitpid(pid, &status, WNOHANG) == 0)
		pvm_sleep_ns(1000000);
	/* Each try is checked; the writer committing during one of them shows
	 * the backup does not stop writers (whether a given try overlaps is up
	 * to the scheduler, so a few are taken). */
	for (int i = 0; i < TRIES && !overlapped; i++) {
		char to[PATH_MAX + 64];

		snprintf(to, sizeof(to), "%s.%d", bak, i);
		before = atomic_load(&sh->written);
		ck_assert_msg(store_backup(s, to, &err) == 0, "%s", err.msg);
		after = atomic_load(&sh->written);
		check_backup(to, before, after);
		overlapped = after > before;
		unlink(to);
	}
	atomic_store(&sh->stop, true);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %#x", status);
	ck_assert_msg(overlapped, "no backup of %d overlapped a commit", TRIES);
	munmap(sh, sizeof(*sh));
}
END_TEST

START_TEST(backup_never_overwrites)
{
	struct pvm_err err = {0};
	struct stat st;
	FILE *fp = fopen(bak, "w");

	ck_assert_ptr_nonnull(fp);
	fputs("keep me", fp);
	fclose(fp);
	ck_assert_int_eq(store_backup(s, bak, &err), -EEXIST);
	ck_assert_int_eq(stat(bak, &st), 0);
	ck_assert_int_eq(st.st_size, 7);
}
END_TEST

static bool has(const char *location, const char *key)
{
	struct store_options so = {.no_create = true};
	struct pvm_err err = {0};
	struct store *st = NULL;
	char *v = NULL;
	int ret;

	ck_assert_msg(store_open(location, &so, &st, &err) == 0, "%s", err.msg);
	ret = store_kv_get(st, "t", key, &v, &err);
	free(v);
	store_close(st);
	return ret == 0;
}

START_TEST(restore_puts_the_backup_in_place)
{
	struct pvm_err err = {0};
	char fresh[PATH_MAX + 32], junk[PATH_MAX + 32];
	struct stat st;
	FILE *fp;

	put(s, "t", "before", "1");
	ck_assert_msg(store_backup(s, bak, &err) == 0, "%s", err.msg);
	put(s, "t", "after", "2");

	/* into a new location: the backup's content, owner-only */
	snprintf(fresh, sizeof(fresh), "%s/restored.db", td.dir);
	ck_assert_msg(store_restore(bak, fresh, false, &err) == 0, "%s", err.msg);
	ck_assert(has(fresh, "before"));
	ck_assert(!has(fresh, "after"));
	ck_assert_int_eq(stat(fresh, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	/* over the live store: refused unless asked, and then it is the backup
	 * even for a connection that stayed open on it */
	ck_assert_int_eq(store_restore(bak, td.db, false, &err), -EEXIST);
	ck_assert(has(td.db, "after"));
	ck_assert_msg(store_restore(bak, td.db, true, &err) == 0, "%s", err.msg);
	ck_assert(!has(td.db, "after"));
	ck_assert_int_eq(store_kv_get(s, "t", "after", &(char *){NULL}, &err), -ENOENT);
	ck_assert_msg(store_check_integrity(s, &err) == 0, "%s", err.msg);

	/* what is not a pvm store is refused, and nothing is created */
	snprintf(junk, sizeof(junk), "%s/junk", td.dir);
	fp = fopen(junk, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("not a database, not at all, but long enough to be looked at", fp);
	fclose(fp);
	snprintf(fresh, sizeof(fresh), "%s/never.db", td.dir);
	ck_assert_int_lt(store_restore(junk, fresh, false, &err), 0);
	ck_assert_int_lt(store_restore("/nonexistent/backup.db", fresh, false, &err), 0);
	ck_assert_int_ne(access(fresh, F_OK), 0);
}
END_TEST

START_TEST(postgres_says_not_supported)
{
	struct pvm_err err = {0};

	ck_assert_int_eq(store_backup(s, bak, &err), -EOPNOTSUPP);
	ck_assert_ptr_nonnull(strstr(err.msg, "pg_dump"));
	ck_assert_int_eq(store_restore(bak, td.db, true, &err), -EOPNOTSUPP);
	ck_assert_ptr_nonnull(strstr(err.msg, "pg_restore"));
	ck_assert_int_ne(access(bak, F_OK), 0);
}
END_TEST

/* The tests this backend has: the backup itself, or the refusal. */
static void add_tests(TCase *tc)
{
	if (tdir_on_postgres()) {
		tcase_add_test(tc, postgres_says_not_supported);
		return;
	}
	tcase_add_test(tc, backup_while_writing);
	tcase_add_test(tc, backup_never_overwrites);
	tcase_add_test(tc, restore_puts_the_backup_in_place);
}

int main(void)
{
	int skip = tdir_backend();
	TCase *tc;
	Suite *su;

	if (skip)
		return skip;
	su = suite_create("store_backup");
	tc = tcase_create("backup");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	add_tests(tc);
	suite_add_tcase(su, tc);
	return tdir_run(su);
}
