/* SPDX-License-Identifier: MIT */
/*
 * bench_store: single-row insert transactions and point reads per second
 * through the store API, beside raw sqlite3 calls on the same file with the
 * same settings (WAL, synchronous=NORMAL, foreign_keys=ON, busy timeout,
 * multi-thread mode, prepared statements) in the same run. Medians of
 * REPEATS; the two sides alternate within each repeat.
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

#include "store/store.h"

#define REPEATS 7
#define INSERTS 3000
#define READS	60000
#define CHUNKS	10

struct raw {
	sqlite3 *db;
	sqlite3_stmt *begin, *insert, *commit, *get;
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	static char store_ids[INSERTS][STORE_ID_MAX], raw_ids[INSERTS][STORE_ID_MAX];
	double ins_store[REPEATS], ins_raw[REPEATS], rd_store[REPEATS], rd_raw[REPEATS];
	double ins_ratio[REPEATS], rd_ratio[REPEATS];
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], path[PATH_MAX + 16], name[64];
	struct pvm_err err = {0};
	struct store *s = NULL;
	struct image_row row;
	struct raw r = {0};
	unsigned seed = 12345;
	uint64_t t;
	int rep, i;

	snprintf(dir, sizeof(dir), "%s/pvm-bench-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	snprintf(path, sizeof(path), "%s/bench.db", dir);
	pvm_log_set_level(PVM_LOG_WARN);
	if (store_open(path, NULL, &s, &err) < 0)
		die("store_open", err.msg);
	raw_open(&r, path);

	for (rep = 0; rep < REPEATS; rep++) {
		uint64_t ns[4] = {0}; /* insert store, insert raw, read store, read raw */
		int chunk, side;

		/* Both sides alternate in small chunks, so load from anything else
		 * on the machine falls on both alike. */
		for (chunk = 0; chunk < CHUNKS; chunk++) {
			int lo = chunk * (INSERTS / CHUNKS), hi = lo + INSERTS / CHUNKS;

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
						raw_insert(&r, raw_ids[i], name);
					}
					ns[1] += pvm_now_ns() - t;
				}
			}
		}
		for (chunk = 0; chunk < CHUNKS; chunk++) {
			for (side = 0; side < 2; side++) {
				t = pvm_now_ns();
				if ((side == 0) != ((rep + chunk) % 2)) {
					for (i = 0; i < READS / CHUNKS; i++)
						store_read(s, store_ids[rand_r(&seed) % INSERTS]);
					ns[2] += pvm_now_ns() - t;
				} else {
					for (i = 0; i < READS / CHUNKS; i++)
						raw_get(&r, raw_ids[rand_r(&seed) % INSERTS], &row);
					ns[3] += pvm_now_ns() - t;
				}
			}
		}
		ins_store[rep] = INSERTS / (ns[0] / 1e9);
		ins_raw[rep] = INSERTS / (ns[1] / 1e9);
		rd_store[rep] = READS / (ns[2] / 1e9);
		rd_raw[rep] = READS / (ns[3] / 1e9);
		fprintf(stderr,
			"bench_store: repeat %d: insert %.0f vs raw %.0f /s, read %.0f vs raw "
			"%.0f /s\n",
			rep + 1, ins_store[rep], ins_raw[rep], rd_store[rep], rd_raw[rep]);
	}
	raw_close(&r);
	store_close(s);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	/* Ratios are taken per repeat (both sides ran under the same load),
	 * then the median. */
	for (rep = 0; rep < REPEATS; rep++) {
		ins_ratio[rep] = ins_store[rep] / ins_raw[rep];
		rd_ratio[rep] = rd_store[rep] / rd_raw[rep];
	}
	printf("METRIC store_insert_per_s %.0f ops/s\n", median(ins_store, REPEATS));
	printf("METRIC store_read_per_s %.0f ops/s\n", median(rd_store, REPEATS));
	printf("METRIC store_insert_raw_per_s %.0f ops/s\n", median(ins_raw, REPEATS));
	printf("METRIC store_read_raw_per_s %.0f ops/s\n", median(rd_raw, REPEATS));
	printf("METRIC store_insert_ratio_vs_raw %.3f ratio\n", median(ins_ratio, REPEATS));
	printf("METRIC store_read_ratio_vs_raw %.3f ratio\n", median(rd_ratio, REPEATS));
	return 0;
}
