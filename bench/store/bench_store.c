/* SPDX-License-Identifier: MIT */
/*
 * bench_store: single-row insert transactions and point reads per second
 * through the store API, beside raw calls of the database's own library on
 * the same database in the same run:
 * - SQLite: raw sqlite3 on the same file with the same settings (WAL,
 *   synchronous=NORMAL, foreign_keys=ON, busy timeout, multi-thread mode,
 *   prepared statements);
 * - PostgreSQL (when PVM_BENCH_PG names a server; bench/run-all starts one):
 *   raw libpq with the same statements the store runs for the row (BEGIN,
 *   the writers' advisory lock, INSERT, COMMIT; a prepared SELECT), server-
 *   side prepared, on a fresh database. The store also appends an event and
 *   a NOTIFY per insert: that is its cost, counted against it.
 * Medians of REPEATS; the two sides alternate in chunks within each repeat.
 *
 * Output: METRIC lines on stdout, progress on stderr.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench/common/bench.h"
#include "store/store.h"
#include "tests/pgtest/pgtest.h"

#define REPEATS	    7
#define INSERTS_MAX 3000
#define CHUNKS	    10
/* must match store/postgres.c: the raw side takes the lock the store takes */
#define PG_WRITE_LOCK_SQL "SELECT pg_advisory_xact_lock(7365731)"

struct raw {
	sqlite3 *db;
	sqlite3_stmt *begin, *insert, *commit, *get;
	PGconn *pg;
};

struct image_row {
	char id[STORE_ID_MAX];
	char name[STORE_NAME_MAX];
	char format[STORE_TYPE_MAX];
	char *source;
	int64_t size_bytes;
	char sha256[STORE_HASH_HEX];
	int64_t generation, created_ms, updated_ms;
};

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, msg);
	exit(1);
}

static void raw_prepare(struct raw *r, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		die("prepare", sqlite3_errmsg(r->db));
}

static void raw_open(struct raw *r, const char *path)
{
	const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

	if (sqlite3_open_v2(path, &r->db, flags, NULL) != SQLITE_OK)
		die("open", sqlite3_errmsg(r->db));
	sqlite3_busy_timeout(r->db, 5000);
	if (sqlite3_exec(r->db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
			 "PRAGMA foreign_keys=ON",
			 NULL, NULL, NULL) != SQLITE_OK)
		die("pragmas", sqlite3_errmsg(r->db));
	raw_prepare(r, "BEGIN IMMEDIATE", &r->begin);
	raw_prepare(r, "COMMIT", &r->commit);
	raw_prepare(r,
		    "INSERT INTO images (id, name, format, source, size_bytes, sha256, generation, "
		    "created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
		    &r->insert);
	raw_prepare(r,
		    "SELECT id, name, format, source, size_bytes, sha256, generation, created_ms, "
		    "updated_ms FROM images WHERE id = ?",
		    &r->get);
}

static void raw_close(struct raw *r)
{
	sqlite3_finalize(r->begin);
	sqlite3_finalize(r->commit);
	sqlite3_finalize(r->insert);
	sqlite3_finalize(r->get);
	sqlite3_close(r->db);
	PQfinish(r->pg);
}

static void pg_ok(PGconn *c, PGresult *res, const char *what)
{
	int st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		die(what, PQerrorMessage(c));
	PQclear(res);
}

static void pg_raw_open(struct raw *r, const char *uri)
{
	r->pg = PQconnectdb(uri);
	if (PQstatus(r->pg) != CONNECTION_OK)
		die("pg connect", PQerrorMessage(r->pg));
	pg_ok(
	    r->pg,
	    PQprepare(r->pg, "ins",
		      "INSERT INTO images (id, name, format, source, size_bytes, sha256, "
		      "generation, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, "
		      "$8)",
		      8, NULL),
	    "pg prepare insert");
	pg_ok(r->pg,
	      PQprepare(r->pg, "get",
			"SELECT id, name, format, source, size_bytes, sha256, generation, "
			"created_ms, updated_ms FROM images WHERE id = $1",
			1, NULL),
	      "pg prepare get");
	pg_ok(r->pg, PQprepare(r->pg, "lock", PG_WRITE_LOCK_SQL, 0, NULL), "pg prepare lock");
}

static void pg_raw_insert(struct raw *r, const char *id, const char *name)
{
	char now[24];
	const char *v[8] = {id, name, "raw", "/var/lib/pvm/images/x.img", "4096", "", now, now};

	snprintf(now, sizeof(now), "%lld", (long long)(pvm_wall_ns() / 1000000));
	pg_ok(r->pg, PQexec(r->pg, "BEGIN"), "pg begin");
	pg_ok(r->pg, PQexecPrepared(r->pg, "lock", 0, NULL, NULL, NULL, 0), "pg lock");
	pg_ok(r->pg, PQexecPrepared(r->pg, "ins", 8, v, NULL, NULL, 0), "pg insert");
	pg_ok(r->pg, PQexec(r->pg, "COMMIT"), "pg commit");
}

/* Reads one row into the same shape the store returns (strings copied). */
static void pg_raw_get(struct raw *r, const char *id, struct image_row *out)
{
	PGresult *res = PQexecPrepared(r->pg, "get", 1, &id, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		die("pg raw get", id);
	snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, 0, 0));
	snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(res, 0, 1));
	snprintf(out->format, sizeof(out->format), "%s", PQgetvalue(res, 0, 2));
	out->source = strdup(PQgetvalue(res, 0, 3));
	out->size_bytes = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	snprintf(out->sha256, sizeof(out->sha256), "%s", PQgetvalue(res, 0, 5));
	out->generation = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
	out->created_ms = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
	out->updated_ms = strtoll(PQgetvalue(res, 0, 8), NULL, 10);
	PQclear(res);
	free(out->source);
}

static void step_done(struct raw *r, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die("step", sqlite3_errmsg(r->db));
	sqlite3_reset(st);
}

static void raw_insert(struct raw *r, const char *id, const char *name)
{
	int64_t now = (int64_t)(pvm_wall_ns() / 1000000);

	step_done(r, r->begin);
	sqlite3_bind_text(r->insert, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(r->insert, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(r->insert, 3, "raw", -1, SQLITE_STATIC);
	sqlite3_bind_text(r->insert, 4, "/var/lib/pvm/images/x.img", -1, SQLITE_STATIC);
	sqlite3_bind_int64(r->insert, 5, 4096);
	sqlite3_bind_text(r->insert, 6, "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(r->insert, 7, now);
	sqlite3_bind_int64(r->insert, 8, now);
	step_done(r, r->insert);
	sqlite3_clear_bindings(r->insert);
	step_done(r, r->commit);
}

/* Reads one row into the same shape the store returns (strings copied). */
static void raw_get(struct raw *r, const char *id, struct image_row *out)
{
	sqlite3_stmt *st = r->get;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		die("raw get", id);
	snprintf(out->id, sizeof(out->id), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(out->name, sizeof(out->name), "%s", (const char *)sqlite3_column_text(st, 1));
	snprintf(out->format, sizeof(out->format), "%s", (const char *)sqlite3_column_text(st, 2));
	out->source = strdup((const char *)sqlite3_column_text(st, 3));
	out->size_bytes = sqlite3_column_int64(st, 4);
	snprintf(out->sha256, sizeof(out->sha256), "%s", (const char *)sqlite3_column_text(st, 5));
	out->generation = sqlite3_column_int64(st, 6);
	out->created_ms = sqlite3_column_int64(st, 7);
	out->updated_ms = sqlite3_column_int64(st, 8);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	free(out->source);
}

static void store_insert(struct store *s, int rep, int i, char *id)
{
	struct store_image im = {0};
	struct pvm_err err = {0};

	snprintf(im.name, sizeof(im.name), "s%d-%d", rep, i);
	snprintf(im.format, sizeof(im.format), "raw");
	im.source = "/var/lib/pvm/images/x.img";
	im.size_bytes = 4096;
	if (store_image_create(s, &im, &err) < 0)
		die("store insert", err.msg);
	memcpy(id, im.id, STORE_ID_MAX);
}

static void store_read(struct store *s, const char *id)
{
	struct store_image im;
	struct pvm_err err = {0};

	if (store_image_get(s, id, &im, &err) < 0)
		die("store get", err.msg);
	store_image_free(&im);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* One backend's figures: per repeat, both sides under the same load. */
struct figures {
	double ins_store[REPEATS], ins_raw[REPEATS], rd_store[REPEATS], rd_raw[REPEATS];
};

static void run(struct store *s, struct raw *r, int inserts, int reads, const char *what,
		struct figures *f)
{
	static char store_ids[INSERTS_MAX][STORE_ID_MAX], raw_ids[INSERTS_MAX][STORE_ID_MAX];
	bool pg = r->pg != NULL;
	struct image_row row;
	unsigned seed = 12345;
	char name[64];
	uint64_t t;
	int rep, i;

	for (rep = 0; rep < REPEATS; rep++) {
		uint64_t ns[4] = {0}; /* insert store, insert raw, read store, read raw */
		int chunk, side;

		/* Both sides alternate in small chunks, so load from anything else
		 * on the machine falls on both alike. */
		for (chunk = 0; chunk < CHUNKS; chunk++) {
			int lo = chunk * (inserts / CHUNKS), hi = lo + inserts / CHUNKS;

			for (side = 0; side < 2; side++) {
				t = pvm_now_ns();
				if ((side == 0) != ((rep + chunk) % 2)) {
					for (i = lo; i < hi; i++)
						store_insert(s, rep, i, store_ids[i]);
					ns[0] += pvm_now_ns() - t;
				} else {
					for (i = lo; i < hi; i++) {
						snprintf(raw_ids[i], STORE_ID_MAX, "raw_%08d%024d",
							 rep, i);
						snprintf(name, sizeof(name), "r%d-%d", rep, i);
						if (pg)
							pg_raw_insert(r, raw_ids[i], name);
						else
							raw_insert(r, raw_ids[i], name);
					}
					ns[1] += pvm_now_ns() - t;
				}
			}
		}
		for (chunk = 0; chunk < CHUNKS; chunk++) {
			for (side = 0; side < 2; side++) {
				t = pvm_now_ns();
				if ((side == 0) != ((rep + chunk) % 2)) {
					for (i = 0; i < reads / CHUNKS; i++)
						store_read(s, store_ids[rand_r(&seed) % inserts]);
					ns[2] += pvm_now_ns() - t;
				} else {
					for (i = 0; i < reads / CHUNKS; i++) {
						const char *id = raw_ids[rand_r(&seed) % inserts];

						if (pg)
							pg_raw_get(r, id, &row);
						else
							raw_get(r, id, &row);
					}
					ns[3] += pvm_now_ns() - t;
				}
			}
		}
		f->ins_store[rep] = inserts / (ns[0] / 1e9);
		f->ins_raw[rep] = inserts / (ns[1] / 1e9);
		f->rd_store[rep] = reads / (ns[2] / 1e9);
		f->rd_raw[rep] = reads / (ns[3] / 1e9);
		fprintf(stderr,
			"bench_store: %s repeat %d: insert %.0f vs raw %.0f /s, read %.0f vs raw "
			"%.0f /s\n",
			what, rep + 1, f->ins_store[rep], f->ins_raw[rep], f->rd_store[rep],
			f->rd_raw[rep]);
	}
}

/* Ratios are taken per repeat (both sides ran under the same load), then the
 * median. */
static void report(const char *prefix, struct figures *f)
{
	double ins_ratio[REPEATS], rd_ratio[REPEATS];

	for (int rep = 0; rep < REPEATS; rep++) {
		ins_ratio[rep] = f->ins_store[rep] / f->ins_raw[rep];
		rd_ratio[rep] = f->rd_store[rep] / f->rd_raw[rep];
	}
	printf("METRIC %sstore_insert_per_s %.0f ops/s\n", prefix,
	       bench_median(f->ins_store, REPEATS));
	printf("METRIC %sstore_read_per_s %.0f ops/s\n", prefix,
	       bench_median(f->rd_store, REPEATS));
	printf("METRIC %sstore_insert_raw_per_s %.0f ops/s\n", prefix,
	       bench_median(f->ins_raw, REPEATS));
	printf("METRIC %sstore_read_raw_per_s %.0f ops/s\n", prefix,
	       bench_median(f->rd_raw, REPEATS));
	printf("METRIC %sstore_insert_ratio_vs_raw %.3f ratio\n", prefix,
	       bench_median(ins_ratio, REPEATS));
	printf("METRIC %sstore_read_ratio_vs_raw %.3f ratio\n", prefix,
	       bench_median(rd_ratio, REPEATS));
}

int main(void)
{
	static struct figures lite, pgf;
	const char *tmp = getenv("TMPDIR"), *pg = getenv("PVM_BENCH_PG");
	char dir[PATH_MAX], path[PATH_MAX + 16], uri[PGTEST_URI_MAX];
	struct pvm_err err = {0};
	struct store *s = NULL;
	struct raw r = {0};

	snprintf(dir, sizeof(dir), "%s/pvm-bench-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	snprintf(path, sizeof(path), "%s/bench.db", dir);
	pvm_log_set_level(PVM_LOG_WARN);
	if (store_open(path, NULL, &s, &err) < 0)
		die("store_open", err.msg);
	raw_open(&r, path);
	run(s, &r, INSERTS_MAX, 60000, "sqlite", &lite);
	raw_close(&r);
	store_close(s);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	report("", &lite);

	if (!pg || !*pg) {
		fprintf(stderr, "bench_store: PVM_BENCH_PG unset: no PostgreSQL figures\n");
		return 0;
	}
	if (pgtest_db_create(pg, uri, sizeof(uri)) < 0)
		die("postgres", "cannot create a database");
	if (store_open(uri, NULL, &s, &err) < 0)
		die("store_open", err.msg);
	memset(&r, 0, sizeof(r));
	pg_raw_open(&r, uri);
	/* Fewer operations: each is a round trip to the server. */
	run(s, &r, 1000, 10000, "postgres", &pgf);
	raw_close(&r);
	store_close(s);
	pgtest_db_drop(pg, uri);
	report("pg_", &pgf);
	return 0;
}
