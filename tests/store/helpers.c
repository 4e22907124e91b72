/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store-int.h"
#include "tests/pgtest/pgtest.h"
#include "tests/store/helpers.h"

static const char *pg_admin;

int tdir_backend(void)
{
	int ret = pgtest_init(&pg_admin);

	return ret == 77 ? 77 : 0;
}

bool tdir_on_postgres(void)
{
	return pg_admin != NULL;
}

void tdir_make(struct tdir *t)
{
	const char *base = getenv("TMPDIR");

	snprintf(t->dir, sizeof(t->dir), "%s/pvm-store-test-XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	t->pg = pg_admin != NULL;
	if (t->pg)
		ck_assert_int_eq(pgtest_db_create(pg_admin, t->db, sizeof(t->db)), 0);
	else
		snprintf(t->db, sizeof(t->db), "%s/pvm.db", t->dir);
}

void tdir_exec(struct tdir *t, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	if (t->pg) {
		ck_assert_int_eq(pgtest_exec(t->db, sql), 0);
		return;
	}
	ck_assert_int_eq(sqlite3_open(t->db, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
	sqlite3_close(db);
}

long long tdir_int(struct tdir *t, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	sqlite3 *db;

	if (t->pg)
		return pgtest_int(t->db, sql);
	ck_assert_int_eq(sqlite3_open(t->db, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

void tdir_migration(struct tdir *t, int i)
{
	char *ddl;

	ck_assert_int_lt(i, STORE_SCHEMA_VERSION);
	if (!t->pg) {
		tdir_exec(t, store_migrations[i]);
		return;
	}
	ddl = store_pg_ddl(store_migrations[i]);
	ck_assert_ptr_nonnull(ddl);
	tdir_exec(t, ddl);
	free(ddl);
}

void tdir_set_version(struct tdir *t, int version)
{
	char sql[128];

	if (t->pg)
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS pvm_schema (version BIGINT NOT NULL);"
			 "DELETE FROM pvm_schema; INSERT INTO pvm_schema VALUES (%d)",
			 version);
	else
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", version);
	tdir_exec(t, sql);
}

long long tdir_version(struct tdir *t)
{
	return tdir_int(t, t->pg ? "SELECT version FROM pvm_schema" : "PRAGMA user_version");
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tdir_remove(struct tdir *t)
{
	if (t->pg && t->db[0])
		pgtest_db_drop(pg_admin, t->db);
	t->db[0] = '\0';
	if (t->dir[0])
		nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	t->dir[0] = '\0';
}

struct store *tdir_open(struct tdir *t)
{
	struct pvm_err err = {0};
	struct store *s = NULL;
	int ret;

	ret = store_open(t->db, NULL, &s, &err);
	ck_assert_msg(ret == 0, "store_open: %d %s", ret, err.msg);
	return s;
}

void make_host(struct store *s, const char *name, int64_t cpus, int64_t mem, int64_t disk,
	       struct store_host *out)
{
	struct pvm_err err = {0};
	int ret;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->address, sizeof(out->address), "10.0.0.1:7070");
	out->state = STORE_HOST_READY;
	out->cpus = cpus;
	out->memory_mib = mem;
	out->disk_gib = disk;
	ret = store_host_create(s, out, &err);
	ck_assert_msg(ret == 0, "host create %s: %d %s", name, ret, err.msg);
}

void make_guest(struct store *s, const char *name, int64_t vcpus, int64_t mem, int64_t disk,
		struct store_guest *out)
{
	struct pvm_err err = {0};
	int ret;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->spec = "{\"image\":\"console\"}";
	out->kind = STORE_GUEST_MICROGUEST;
	out->vcpus = vcpus;
	out->memory_mib = mem;
	out->disk_gib = disk;
	ret = store_guest_create(s, out, &err);
	out->spec = NULL; /* not owned */
	ck_assert_msg(ret == 0, "guest create %s: %d %s", name, ret, err.msg);
}

int tdir_run(Suite *su)
{
	SRunner *sr = srunner_create(su);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
