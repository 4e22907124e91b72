/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/store/helpers.h"

void tdir_make(struct tdir *t)
{
	const char *base = getenv("TMPDIR");

	snprintf(t->dir, sizeof(t->dir), "%s/pvm-store-test-XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/pvm.db", t->dir);
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
