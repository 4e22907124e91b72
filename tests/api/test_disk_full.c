/* SPDX-License-Identifier: MIT */
/*
 * A full disk under the real pvmd's state directory: a small tmpfs the test
 * mounts in its own mount namespace (root only; elsewhere SKIP), filled up
 * by a file while pvmd serves. Writes are answered 507 insufficient-storage
 * (never 500), reads go on, nothing refused is half-written (the store's
 * integrity check passes, no refused guest appears, every acknowledged one
 * does), and once the file is removed the same writes succeed again.
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/api/harness.h"

#define TMPFS_SIZE "size=4m"
#define MAX_TRIES  4000
#define MAX_IDS	   MAX_TRIES

static char dir[128], base[64], admin[128];

/* Fills the file system holding dir until write() says ENOSPC. */
static void fill(const char *path)
{
	static char chunk[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	memset(chunk, 0xa5, sizeof(chunk));
	do
		n = write(fd, chunk, sizeof(chunk));
	while (n > 0);
	ck_assert_int_eq(errno, ENOSPC);
	/* The last partial block too. */
	while (write(fd, chunk, 1) == 1)
		;
	close(fd);
}

static long create(const char *name, char *id, size_t len, struct th_resp *r)
{
	char body[256];

	snprintf(body, sizeof(body),
		 "{\"name\":\"%.64s\",\"image\":\"x.elf\",\"vcpus\":1,\"memory_mib\":16}", name);
	th_req_url(base, "POST", "/v1/guests", admin, body, NULL, r);
	if (r->status == 201 && id)
		snprintf(id, len, "%s", th_str(r, "id"));
	return r->status;
}

/* A 507 names the kind, says why, and is a problem document. */
static void check_507(const struct th_resp *r)
{
	ck_assert_str_eq(th_problem(r), "insufficient-storage");
	ck_assert_ptr_nonnull(strstr(r->ctype, "application/problem+json"));
	ck_assert_ptr_nonnull(strstr(th_str(r, "detail"), "full"));
}

START_TEST(full_disk_507_then_recovers)
{
	static char ids[MAX_IDS][64], refused[MAX_TRIES][32];
	int nids = 0, nref = 0, full = 0;
	char filler[200], path[256], name[32];
	struct th_resp r;
	struct store *st;
	struct pvm_err err = {0};
	pid_t pid;
	int status;

	pid = th_pvmd_start(PVMD_PATH, dir, base, sizeof(base));
	th_pvmd_admin(dir, admin, sizeof(admin));
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "before-%d", i);
		ck_assert_int_eq(create(name, ids[nids], 64, &r), 201);
		nids++;
		th_resp_free(&r);
	}

	snprintf(filler, sizeof(filler), "%s/filler", dir);
	fill(filler);
	/* Pages SQLite already holds (the -wal's) may take a few more writes. */
	for (int i = 0; i < MAX_TRIES && full < 20; i++) {
		long s;

		snprintf(name, sizeof(name), "full-%d", i);
		s = create(name, ids[nids], 64, &r);
		ck_assert_msg(s == 201 || s == 507, "create on a full disk: %ld %s", s, r.body);
		if (s == 201) {
			nids++;
		} else {
			check_507(&r);
			snprintf(refused[nref++], 32, "%s", name);
			full++;
		}
		th_resp_free(&r);
	}
	ck_assert_int_ge(full, 20);
	printf("disk_full: %d creates taken on the full disk (pages SQLite held), then %d "
	       "answered 507\n",
	       nids - 20, nref);
	/* Other writes say the same; reads go on. */
	snprintf(path, sizeof(path), "/v1/guests/%s", ids[0]);
	th_req_url(base, "PATCH", path, admin, "{\"restart_policy\":\"always\"}", NULL, &r);
	ck_assert_msg(r.status == 507 || r.status == 200, "PATCH: %ld %s", r.status, r.body);
	if (r.status == 507)
		check_507(&r);
	th_resp_free(&r);
	th_req_url(base, "GET", path, admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	th_req_url(base, "GET", "/v1/guests?limit=10", admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);

	/* Space returns: the same requests succeed. */
	ck_assert_int_eq(unlink(filler), 0);
	for (int i = 0; i < nref; i++) {
		ck_assert_msg(create(refused[i], ids[nids], 64, &r) == 201,
			      "create %s after space returned: %ld %s", refused[i], r.status,
			      r.body);
		nids++;
		th_resp_free(&r);
	}
	th_req_url(base, "PATCH", path, admin, "{\"restart_policy\":\"always\"}", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);

	/* Every acknowledged guest is there, once. */
	for (int i = 0; i < nids; i++) {
		snprintf(path, sizeof(path), "/v1/guests/%.63s", ids[i]);
		th_req_url(base, "GET", path, admin, NULL, NULL, &r);
		ck_assert_msg(r.status == 200, "acknowledged %s lost: %ld", ids[i], r.status);
		th_resp_free(&r);
	}
	th_req_url(base, "GET", "/v1/guests?limit=1000", admin, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(json_object_array_length(json_object_object_get(r.json, "items")), nids);
	th_resp_free(&r);

	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pvmd exit %#x", status);
	snprintf(path, sizeof(path), "%s/pvm.db", dir);
	ck_assert_int_eq(store_open(path, NULL, &st, &err), 0);
	ck_assert_msg(store_check_integrity(st, &err) == 0, "%s", err.msg);
	store_close(st);
}
END_TEST

/* The store itself opened on a full disk: a write is -EDQUOT, then works. */
START_TEST(store_write_full_is_edquot)
{
	struct pvm_err err = {0};
	char path[256], filler[200];
	struct store_guest g;
	struct store *st;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/pvm.db", dir);
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	ck_assert_int_eq(store_open(path, NULL, &st, &err), 0);
	fill(filler);
	for (int i = 0; i < MAX_TRIES && ret == 0; i++) {
		g = (struct store_guest){.vcpus = 1, .memory_mib = 16};
		snprintf(g.name, sizeof(g.name), "g-%d", i);
		ret = store_guest_create(st, &g, &err);
		if (ret == 0)
			store_guest_free(&g);
	}
	ck_assert_msg(ret == -EDQUOT, "%d %s", ret, err.msg);
	ck_assert_int_eq(unlink(filler), 0);
	g = (struct store_guest){.vcpus = 1, .memory_mib = 16};
	snprintf(g.name, sizeof(g.name), "after");
	ck_assert_msg(store_guest_create(st, &g, &err) == 0, "%s", err.msg);
	store_guest_free(&g);
	ck_assert_msg(store_check_integrity(st, &err) == 0, "%s", err.msg);
	store_close(st);
}
END_TEST

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pvm-disk-full-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(mount("pvm-test", dir, "tmpfs", MS_NOSUID | MS_NODEV, TMPFS_SIZE) == 0,
		      "mount tmpfs: %s", strerror(errno));
}

static void teardown(void)
{
	ck_assert_int_eq(umount2(dir, MNT_DETACH), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}

int main(void)
{
	Suite *s = suite_create("api_disk_full");
	TCase *tc = tcase_create("disk_full");
	SRunner *sr;
	int failed;

	/* A private mount namespace: the tmpfs is seen by this test and its pvmd only. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		printf("SKIP: no private mount namespace for a small tmpfs (%s)\n",
		       strerror(errno));
		return 77;
	}
	curl_global_init(CURL_GLOBAL_ALL);
	pvm_log_init("test", PVM_LOG_ERROR, PVM_LOG_TEXT);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, full_disk_507_then_recovers);
	tcase_add_test(tc, store_write_full_is_edquot);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
