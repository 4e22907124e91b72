/* SPDX-License-Identifier: MIT */
/*
 * Shared by the store tests: a fresh temporary directory and a fresh store
 * location per test, on the backend the run is for (NAME.sqlite: a file in
 * the directory; NAME.postgres: a new database on the test server).
 */
#ifndef PVM_TESTS_STORE_HELPERS_H
#define PVM_TESTS_STORE_HELPERS_H

#include <check.h>
#include <limits.h>
#include <stdbool.h>

#include "store/store.h"

struct tdir {
	char dir[PATH_MAX];
	char db[PATH_MAX + 16]; /* dir/pvm.db, or a postgresql:// URI */
	bool pg;
};

/* Picks the backend from the environment; call first in main, and return
 * 77 (after its SKIP line) when it does. */
int tdir_backend(void);
/* Runs the suite (and frees it): the exit status, 1 when a test failed. */
int tdir_run(Suite *su);
/* True when this run is on PostgreSQL. */
bool tdir_on_postgres(void);
/* mkdtemp under $TMPDIR (or /tmp) and a new store location; aborts the test
 * on failure. */
void tdir_make(struct tdir *t);
/* Removes the directory and everything in it, and drops the database. */
void tdir_remove(struct tdir *t);
/* Opens the location with default options; fails the test on error. */
struct store *tdir_open(struct tdir *t);

/* Raw access below the store, for setting up old schemas and checking what
 * is on disk: SQL run on the location directly (fails the test on error),
 * and one integer read (-1: no row). */
void tdir_exec(struct tdir *t, const char *sql);
long long tdir_int(struct tdir *t, const char *sql);
/* Runs migration i (version i to i + 1) as the backend would. */
void tdir_migration(struct tdir *t, int i);
/* Sets the schema version the backend records (user_version / pvm_schema). */
void tdir_set_version(struct tdir *t, int version);
/* The schema version the backend records. */
long long tdir_version(struct tdir *t);

/* Creates a host / guest with the given name and capacity; returns the id
 * in the struct. Fails the test on error. */
void make_host(struct store *s, const char *name, int64_t cpus, int64_t mem, int64_t disk,
	       struct store_host *out);
void make_guest(struct store *s, const char *name, int64_t vcpus, int64_t mem, int64_t disk,
		struct store_guest *out);

#endif
