/* SPDX-License-Identifier: MIT */
/*
 * Tests and benchmarks on PostgreSQL: a fresh database per test on the
 * throwaway server tests/pgtest/pg-server started (its admin URI in the file
 * PVM_TEST_PG_FILE names; ctest's fixture sets it for NAME.postgres tests).
 */
#ifndef PVM_TESTS_PGTEST_H
#define PVM_TESTS_PGTEST_H

#include <stdbool.h>
#include <stddef.h>

#define PGTEST_URI_MAX 512

/*
 * Which backend this run is for. 0: SQLite (PVM_TEST_PG_FILE unset), 1:
 * PostgreSQL, with *admin its admin URI; 77 after printing one SKIP line
 * when PostgreSQL was asked for but no server runs (main returns it).
 */
int pgtest_init(const char **admin);
/* Creates an empty database with a name unique to this process and call,
 * and writes a store URI for it; 0 or a negative errno (message on stderr). */
int pgtest_db_create(const char *admin, char *uri, size_t len);
/* Drops the database a pgtest_db_create URI names (its connections too). */
void pgtest_db_drop(const char *admin, const char *uri);
/* Runs SQL on the database uri names; 0, or -EIO with the message on stderr.
 * pgtest_int reads the first column of the first row as an integer (-1:
 * none). */
int pgtest_exec(const char *uri, const char *sql);
long long pgtest_int(const char *uri, const char *sql);

#endif
