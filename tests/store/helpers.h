/* SPDX-License-Identifier: MIT */
/* Shared by the store tests: a fresh temporary directory per test. */
#ifndef PVM_TESTS_STORE_HELPERS_H
#define PVM_TESTS_STORE_HELPERS_H

#include <limits.h>

#include "store/store.h"

struct tdir {
	char dir[PATH_MAX];
	char db[PATH_MAX + 16]; /* dir/pvm.db */
};

/* mkdtemp under $TMPDIR (or /tmp); aborts the test on failure. */
void tdir_make(struct tdir *t);
/* Removes the directory and everything in it. */
void tdir_remove(struct tdir *t);
/* Opens dir/pvm.db with default options; fails the test on error. */
struct store *tdir_open(struct tdir *t);

/* Creates a host / guest with the given name and capacity; returns the id
 * in the struct. Fails the test on error. */
void make_host(struct store *s, const char *name, int64_t cpus, int64_t mem, int64_t disk,
	       struct store_host *out);
void make_guest(struct store *s, const char *name, int64_t vcpus, int64_t mem, int64_t disk,
		struct store_guest *out);

#endif
