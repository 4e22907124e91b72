/* SPDX-License-Identifier: MIT */
/* Migrations: from empty, v1 with data, v2 tokens to v3, v3 guests to v4, re-open, newer schema
 * refused, bad locations. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store-int.h"
#include "tests/store/helpers.h"

static struct tdir td;

static void setup(void)
{
	tdir_make(&td);
}

static void teardown(void)
{
	tdir_remove(&td);
}

START_TEST(test_migrate_from_empty)
{
	static const char *tables[] = {"hosts",	     "guests",	   "images",	       "host_caps",
				       "guest_caps", "hook_stats", "hook_rollups",     "placements",
				       "events",     "tokens",	   "idempotency_keys", "kv"};
	struct store *s = tdir_open(&td);
	struct pvm_err err = {0};
	char sql[128];
	int version = -1;
	size_t i;

	ck_assert_int_eq(store_schema_version(s, &version, &err), 0);
	ck_assert_int_eq(version, STORE_SCHEMA_VERSION);
	ck_assert_int_eq(store_check_integrity(s, &err), 0);
	store_close(s);

	ck_assert_int_eq(tdir_version(&td), STORE_SCHEMA_VERSION);
	for (i = 0; i < PVM_ARRAY_SIZE(tables); i++) {
		snprintf(
		    sql, sizeof(sql),
		    td.pg ? "SELECT COUNT(*) FROM information_schema.tables WHERE table_name='%s'"
			  : "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='%s'",
		    tables[i]);
		ck_assert_msg(tdir_int(&td, sql) == 1, "table %s missing", tables[i]);
	}
	/* WAL is a property of the file: it must stick. */
	if (!td.pg)
		ck_assert_int_eq(
		    tdir_int(&td, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	/* Byte-wise order on both backends, so that cursors page alike. */
	if (td.pg)
		ck_assert_int_eq(
		    tdir_int(&td, "SELECT COUNT(*) FROM information_schema.columns WHERE"
				  " data_type = 'text' AND collation_name IS DISTINCT FROM 'C'"
				  " AND table_schema = current_schema()"),
		    0);
}
END_TEST

/*
 * A database at schema v1 holding a host, a guest with hook statistics and
 * an event is migrated to v2 without losing a row, and the v2 tables work
 * on the migrated guest. (White box: v1 comes from the migration table.)
 */
START_TEST(test_migrate_v1_with_data)
{
	struct pvm_err err = {0};
	struct store_exit_count ex = {.reason = "io", .count = 7}, *exits = NULL;
	struct store_hook_stat *hs = NULL;
	struct store_guest g;
	struct store_host h;
	struct store_event_list ev = {0};
	struct store *s;
	size_t n = 0;
	int version = 0;

	tdir_migration(&td, 0);
	tdir_exec(
	    &td,
	    "INSERT INTO hosts VALUES ('host_1', 'h1', '127.0.0.1', 'ready', 0, 0, '{}', '{}',"
	    " 8, 4096, 100, 6, 3072, 90, 1, 3, 1, 1);"
	    "INSERT INTO guests VALUES ('guest_1', 'g1', '{\"image\":\"console\"}',"
	    " 'microguest', 'running', 'running', 'never', 2, 1024, 10, 'host_1', 5, 1, 2);"
	    "INSERT INTO hook_stats VALUES ('guest_1', 'console', 10, 2, 4096, 0, 4094, '{}', 2);"
	    "INSERT INTO events (type, subject, payload, time_ms)"
	    " VALUES ('guest.created', 'guest_1', '{}', 1);");
	tdir_set_version(&td, 1);
	s = tdir_open(&td);
	ck_assert_int_eq(store_schema_version(s, &version, &err), 0);
	ck_assert_int_eq(version, STORE_SCHEMA_VERSION);
	ck_assert_msg(store_host_get(s, "host_1", &h, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(h.free_memory_mib, 3072);
	ck_assert_int_eq(h.generation, 3);
	store_host_free(&h);
	ck_assert_msg(store_guest_get(s, "guest_1", &g, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(g.host_id, "host_1");
	ck_assert_int_eq(g.generation, 5);
	ck_assert_int_eq(g.observed_state, STORE_OBSERVED_RUNNING);
	store_guest_free(&g);
	ck_assert_int_eq(store_hook_stats_get(s, "guest_1", &hs, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(hs[0].bytes, 4096);
	store_hook_stats_free(hs, n);
	ck_assert_int_eq(store_events_since(s, 0, 10, &ev, &err), 0);
	ck_assert_uint_eq(ev.n, 1);
	store_event_list_free(&ev);
	/* the v2 tables serve the migrated guest */
	ck_assert_msg(store_guest_exits_put(s, "guest_1", &ex, 1, 0, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_guest_exits_get(s, "guest_1", &exits, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(exits[0].count, 7);
	free(exits);
	ck_assert_int_eq(store_guest_agent_put(s, "guest_1", "{}", false, 0, &err), 1);
	store_close(s);
	ck_assert_int_eq(tdir_version(&td), STORE_SCHEMA_VERSION);
}
END_TEST

/*
 * A database at schema v2 holding tokens (one revoked) migrates to v3: the
 * tokens keep their ids, roles and secrets, and the old ones never expire.
 * The secrets' hashes are computed here as the store does (SHA-256 hex).
 */
START_TEST(test_migrate_v2_tokens)
{
	static const char live[] = "pvm_0123456789abcdef", gone[] = "pvm_fedcba9876543210";
	char hl[STORE_HASH_HEX], hg[STORE_HASH_HEX], sql[512];
	struct pvm_err err = {0};
	struct store_token got, fresh = {0};
	struct store_token_list l = {0};
	char secret[STORE_SECRET_MAX];
	struct store *s;
	int version = 0;

	ck_assert_int_eq(store_sha256_hex(live, strlen(live), hl, &err), 0);
	ck_assert_int_eq(store_sha256_hex(gone, strlen(gone), hg, &err), 0);
	tdir_migration(&td, 0);
	tdir_migration(&td, 1);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO tokens VALUES ('tok_1', 'ops', 'operator', NULL, '%s', 0, 0, 1, 5);"
		 "INSERT INTO tokens VALUES ('tok_2', 'old', 'admin', NULL, '%s', 1, 9, 2, 6);",
		 hl, hg);
	tdir_exec(&td, sql);
	tdir_set_version(&td, 2);

	s = tdir_open(&td);
	ck_assert_int_eq(store_schema_version(s, &version, &err), 0);
	ck_assert_int_eq(version, STORE_SCHEMA_VERSION);
	ck_assert_msg(store_token_authenticate(s, live, &got, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(got.id, "tok_1");
	ck_assert_int_eq(got.role, STORE_ROLE_OPERATOR);
	ck_assert_int_eq(got.created_ms, 5);
	ck_assert_int_eq(got.expires_ms, 0);
	ck_assert_int_eq(store_token_authenticate(s, gone, &got, &err), -EKEYREVOKED);
	ck_assert_int_eq(got.expires_ms, 0);
	ck_assert_int_eq(store_token_list(s, NULL, &l, &err), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_int_eq(l.items[0].expires_ms, 0);
	ck_assert_int_eq(l.items[1].expires_ms, 0);
	ck_assert_int_eq(l.items[1].revoked_ms, 9);
	store_token_list_free(&l);
	/* and the new column works beside them */
	snprintf(fresh.name, sizeof(fresh.name), "ci");
	fresh.role = STORE_ROLE_READER;
	fresh.expires_ms = 4102444800000; /* 2100-01-01 */
	ck_assert_int_eq(store_token_create(s, &fresh, secret, &err), 0);
	ck_assert_int_eq(store_token_get(s, fresh.id, &got, &err), 0);
	ck_assert_int_eq(got.expires_ms, 4102444800000);
	store_close(s);
	ck_assert_int_eq(tdir_version(&td), STORE_SCHEMA_VERSION);
	ck_assert_int_eq(tdir_int(&td, "SELECT COUNT(*) FROM tokens WHERE expires_ms IS NULL"), 2);
}
END_TEST

/*
 * A database at schema v3 holding a bound, running guest migrates to v4: the
 * guest keeps its row and generation and has no observed platform until its
 * host reports one; a report moves the generation once and appends
 * guest.observed; unbinding forgets the platform again.
 */
START_TEST(test_migrate_v3_guests)
{
	struct pvm_err err = {0};
	struct store_event_list ev = {0};
	struct store_guest g;
	struct store *s;
	int version = 0;

	for (int i = 0; i < 3; i++)
		tdir_migration(&td, i);
	tdir_exec(
	    &td, "INSERT INTO hosts VALUES ('host_1', 'h1', '127.0.0.1', 'ready', 0, 0, '{}', '{}',"
		 " 8, 4096, 100, 6, 3072, 90, 1, 3, 1, 1);"
		 "INSERT INTO guests VALUES ('guest_1', 'g1', '{\"image\":\"console\"}',"
		 " 'microguest', 'running', 'running', 'never', 2, 1024, 10, 'host_1', 5, 1, 2);");
	tdir_set_version(&td, 3);
	s = tdir_open(&td);
	ck_assert_int_eq(store_schema_version(s, &version, &err), 0);
	ck_assert_int_eq(version, STORE_SCHEMA_VERSION);
	ck_assert_msg(store_guest_get(s, "guest_1", &g, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(g.platform, "");
	ck_assert_int_eq(g.generation, 5);
	store_guest_free(&g);

	ck_assert_msg(store_guest_set_platform(s, "guest_1", "process", &err) == 0, "%s", err.msg);
	ck_assert_int_eq(store_guest_set_platform(s, "guest_1", "process", &err), 0);
	ck_assert_msg(store_guest_get(s, "guest_1", &g, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(g.platform, "process");
	ck_assert_int_eq(g.generation, 6); /* the repeated report changed nothing */
	store_guest_free(&g);
	ck_assert_int_eq(store_events_since(s, 0, 10, &ev, &err), 0);
	ck_assert_uint_eq(ev.n, 1);
	ck_assert_str_eq(ev.items[0].type, STORE_EV_GUEST_OBSERVED);
	ck_assert_ptr_nonnull(strstr(ev.items[0].payload, "\"platform\":\"process\""));
	store_event_list_free(&ev);

	ck_assert_int_eq(store_guest_set_platform(s, "guest_1", "warp", &err), -EINVAL);
	ck_assert_int_eq(store_guest_set_platform(s, "guest_1", NULL, &err), -EINVAL);
	ck_assert_int_eq(store_guest_set_platform(s, "guest_9", "kvm", &err), -ENOENT);

	ck_assert_msg(store_guest_unbind(s, "guest_1", 0, &g, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(g.platform, "");
	store_guest_free(&g);
	store_close(s);
	ck_assert_int_eq(tdir_int(&td, "SELECT COUNT(*) FROM guests WHERE platform IS NULL"), 1);
}
END_TEST

START_TEST(test_reopen_idempotent)
{
	struct store_host h, got;
	struct pvm_err err = {0};
	int64_t seq1 = 0, seq2 = 0;
	struct store *s;
	int i, version;

	s = tdir_open(&td);
	make_host(s, "h1", 8, 1024, 10, &h);
	ck_assert_int_eq(store_events_last_seq(s, &seq1, &err), 0);
	ck_assert_int_gt(seq1, 0);
	store_close(s);

	for (i = 0; i < 3; i++) {
		s = tdir_open(&td);
		ck_assert_int_eq(store_schema_version(s, &version, &err), 0);
		ck_assert_int_eq(version, STORE_SCHEMA_VERSION);
		ck_assert_int_eq(store_host_get(s, h.id, &got, &err), 0);
		ck_assert_str_eq(got.name, "h1");
		ck_assert_int_eq(got.generation, 1);
		store_host_free(&got);
		store_close(s);
	}
	ck_assert_int_eq(tdir_int(&td, "SELECT COUNT(*) FROM hosts"), 1);

	/* Sequence numbers continue after a re-open and after pruning. */
	s = tdir_open(&td);
	ck_assert_int_eq(store_events_prune(s, INT64_MAX, &err), 0);
	ck_assert_int_eq(store_event_append(s, "test.ping", "", NULL, &seq2, &err), 0);
	ck_assert_int_gt(seq2, seq1);
	store_close(s);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
	struct pvm_err err = {0};
	struct store *s = NULL;
	char sql[64];
	int ret;

	/* A store this build made, then "upgraded" by a future pvm. */
	s = tdir_open(&td);
	store_close(s);
	tdir_set_version(&td, STORE_SCHEMA_VERSION + 1);

	ret = store_open(td.db, NULL, &s, &err);
	ck_assert_int_eq(ret, -EPROTO);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(err.code, -EPROTO);
	ck_assert_msg(strstr(err.msg, "newer") != NULL, "message: %s", err.msg);
	snprintf(sql, sizeof(sql), "version %d", STORE_SCHEMA_VERSION + 1);
	ck_assert_msg(strstr(err.msg, sql) != NULL, "message: %s", err.msg);
	/* Nothing was touched. */
	ck_assert_int_eq(tdir_version(&td), STORE_SCHEMA_VERSION + 1);
	ck_assert_int_eq(tdir_int(&td, "SELECT COUNT(*) FROM hosts"), 0);
}
END_TEST

START_TEST(test_not_a_database)
{
	static const char junk[] = "this is not an SQLite database, just some text.......";
	struct pvm_err err = {0};
	struct store *s = NULL;
	char back[sizeof(junk)];
	int fd, ret;

	fd = open(td.db, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), sizeof(junk));
	close(fd);

	ret = store_open(td.db, NULL, &s, &err);
	ck_assert_int_lt(ret, 0);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err.msg, "not a database") != NULL, "message: %s", err.msg);

	/* The file is left as it was. */
	fd = open(td.db, O_RDONLY);
	ck_assert_int_eq(read(fd, back, sizeof(back)), sizeof(back));
	close(fd);
	ck_assert_mem_eq(back, junk, sizeof(junk));
}
END_TEST

START_TEST(test_bad_locations)
{
	struct pvm_err err = {0};
	struct store *s = NULL;
	char path[PATH_MAX + 32];

	ck_assert_int_eq(store_open(NULL, NULL, &s, &err), -EINVAL);
	ck_assert_int_eq(store_open("", NULL, &s, &err), -EINVAL);
	ck_assert_int_eq(store_open("sqlite:", NULL, &s, &err), -EINVAL);
	snprintf(path, sizeof(path), "%s/no/such/dir/pvm.db", td.dir);
	ck_assert_int_lt(store_open(path, NULL, &s, &err), 0);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err.msg, path) != NULL, "message names the path: %s", err.msg);

	/* "sqlite:" prefix works. */
	snprintf(path, sizeof(path), "sqlite:%s", td.db);
	ck_assert_int_eq(store_open(path, NULL, &s, &err), 0);
	store_close(s);
}
END_TEST

/* The files hold token hashes: owner only, the -wal too; a database an
 * older pvm left readable is tightened when opened. */
START_TEST(test_private_files)
{
	char wal[PATH_MAX + 32];
	struct store_host h;
	struct stat st;
	struct store *s;

	s = tdir_open(&td);
	make_host(s, "h", 1, 1, 1, &h);
	store_host_free(&h);
	snprintf(wal, sizeof(wal), "%s-wal", td.db);
	ck_assert_int_eq(stat(td.db, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(wal, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	/* the post-commit wake-up file other processes' watchers see */
	snprintf(wal, sizeof(wal), "%s-events", td.db);
	ck_assert_int_eq(stat(wal, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	store_close(s);
	ck_assert_int_eq(chmod(td.db, 0644), 0);
	s = tdir_open(&td);
	ck_assert_int_eq(stat(td.db, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	store_close(s);
}
END_TEST

/* Whether another process sees a lock on the database file. */
static bool db_locked_elsewhere(const char *db)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		int fd = open(db, O_RDONLY | O_CLOEXEC);

		_exit(fd >= 0 && fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? 0 : 1);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Opening the database again in this process (another pooled connection,
 * another store) must not drop the POSIX locks the open ones hold: a
 * descriptor of the file opened and closed beside SQLite's does, and the
 * next writer then finds a "disk I/O error". */
START_TEST(test_open_keeps_locks)
{
	struct pvm_err err = {0};
	struct store *a, *b;

	a = tdir_open(&td);
	ck_assert_int_eq(store_tx_begin(a, &err), 0);
	ck_assert(db_locked_elsewhere(td.db));
	b = tdir_open(&td);
	ck_assert_msg(db_locked_elsewhere(td.db), "a second open dropped the first one's locks");
	store_tx_rollback(a);
	store_close(b);
	store_close(a);
}
END_TEST

/* A server that is not there: a clear error naming the location, without
 * its password. */
START_TEST(test_pg_unreachable)
{
	static const char uri[] = "postgresql://pvm:hunter2@/pvm?host=/nonexistent/pvm-socket-dir";
	struct pvm_err err = {0};
	struct store *s = NULL;

	ck_assert_int_eq(store_open(uri, NULL, &s, &err), -EIO);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err.msg, "postgres") != NULL, "message: %s", err.msg);
	ck_assert_msg(strstr(err.msg, "pvm:***@") != NULL, "names the location: %s", err.msg);
	ck_assert_msg(strstr(err.msg, "hunter2") == NULL, "leaks the password: %s", err.msg);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("store_schema");
	TCase *tc = tcase_create("schema");
	SRunner *sr;
	int failed;

	if (tdir_backend() == 77)
		return 77;
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_migrate_from_empty);
	tcase_add_test(tc, test_migrate_v1_with_data);
	tcase_add_test(tc, test_migrate_v2_tokens);
	tcase_add_test(tc, test_migrate_v3_guests);
	tcase_add_test(tc, test_reopen_idempotent);
	tcase_add_test(tc, test_newer_schema_refused);
	if (tdir_on_postgres()) {
		tcase_add_test(tc, test_pg_unreachable);
	} else {
		tcase_add_test(tc, test_not_a_database);
		tcase_add_test(tc, test_private_files);
		tcase_add_test(tc, test_open_keeps_locks);
		tcase_add_test(tc, test_bad_locations);
	}
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
