/* SPDX-License-Identifier: MIT */
/*
 * The all-in-one default end to end: the real pvmd binary with no --role
 * (controller and host in one process), real pvm-vmm processes on /dev/kvm
 * (skipped where it is absent). Through the REST API: a pv and an emulated
 * console guest run to completion and their statistics reach the controller
 * (negotiated hooks, console bytes, vCPU exits by reason), an idle guest's
 * agent hello and report are relayed, everything shows in /metrics, and
 * SIGTERM stops pvmd with exit status 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sys/stat.h>
#include <curl/curl.h>

#include "tests/daemon/aio.h"
#include "tests/platform.h"

/* guest/workloads/console.c writes this many bytes by default. */
#define CONSOLE_BYTES 4096

static struct aio aio;

static json_object *call(const char *method, const char *path, const char *body, long want)
{
	json_object *ans = NULL;
	long status = 0;

	ck_assert_int_eq(aio_call(&aio, method, path, body, &status, &ans), 0);
	ck_assert_msg(status == want, "%s %s: HTTP %ld: %s", method, path, status,
		      ans ? json_object_to_json_string(ans) : "");
	return ans;
}

static void create(const char *body, char *id, size_t len)
{
	json_object *g = call("POST", "/v1/guests", body, 201);
	const char *s = NULL;

	ck_assert_int_eq(pvm_json_get_str(g, "id", &s), 0);
	snprintf(id, len, "%s", s);
	json_object_put(g);
}

static json_object *get_guest(const char *id)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/guests/%s", id);
	return call("GET", path, NULL, 200);
}

static int64_t field_i64(json_object *o, const char *a, const char *b)
{
	json_object *x = NULL, *y = NULL;

	if (!json_object_object_get_ex(o, a, &x) || !json_object_object_get_ex(x, b, &y))
		return -1;
	return json_object_get_int64(y);
}

static json_object *hook_stat(json_object *g, const char *hook)
{
	json_object *arr = json_object_object_get(g, "hook_stats");

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		if (strcmp(json_object_get_string(json_object_object_get(e, "hook")), hook) == 0)
			return e;
	}
	return NULL;
}

/* Polls a guest until done(g) or 30 s; returns the last answer. */
static json_object *wait_guest(const char *id, bool (*done)(json_object *g))
{
	uint64_t deadline = pvm_now_ns() + 30ull * 1000000000ull;
	json_object *g = get_guest(id);

	while (!done(g) && pvm_now_ns() < deadline) {
		json_object_put(g);
		pvm_sleep_ns(100 * 1000 * 1000);
		g = get_guest(id);
	}
	return g;
}

/* Ran to the end and its final statistics arrived. */
static bool finished(json_object *g)
{
	const char *s = "";

	pvm_json_get_str(g, "observed_state", &s);
	return strcmp(s, "stopped") == 0 && field_i64(g, "exits", "total") > 0;
}

static bool observed(json_object *g, const char *want)
{
	const char *s = "";

	pvm_json_get_str(g, "observed_state", &s);
	return strcmp(s, want) == 0;
}

static bool stopped(json_object *g)
{
	return observed(g, "stopped");
}

static bool running(json_object *g)
{
	return observed(g, "running");
}

static bool agent_reported(json_object *g)
{
	json_object *a = json_object_object_get(g, "agent");

	return a && json_object_object_get(a, "report");
}

static size_t to_buf(char *p, size_t size, size_t n, void *arg)
{
	pvm_buf_append(arg, p, size * n);
	return size * n;
}

static char *metrics(void)
{
	struct curl_slist *h = NULL;
	struct pvm_buf b;
	char url[600], auth[300];
	CURL *c = curl_easy_init();

	pvm_buf_init(&b);
	snprintf(url, sizeof(url), "%s/metrics", aio.base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", aio.token);
	h = curl_slist_append(h, auth);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return pvm_buf_steal(&b);
}

/* A pvm_host_platforms row of host says it offers platform. */
static bool host_offers(const char *m, const char *host, const char *platform)
{
	char head[128], tail[64];

	snprintf(head, sizeof(head), "pvm_host_platforms{host=\"%s\",", host);
	snprintf(tail, sizeof(tail), ",platform=\"%s\"} 1\n", platform);
	for (const char *p = strstr(m, head); p; p = strstr(p + 1, head)) {
		const char *eol = strchr(p, '\n'), *t = strstr(p, tail);

		if (t && eol && t < eol)
			return true;
	}
	return false;
}

static bool accepted(json_object *g, const char *hook)
{
	json_object *caps = json_object_object_get(g, "capabilities");

	for (size_t i = 0; caps && i < json_object_array_length(caps); i++) {
		json_object *c = json_object_array_get_idx(caps, i);

		if (strcmp(json_object_get_string(json_object_object_get(c, "name")), hook) == 0)
			return strcmp(json_object_get_string(json_object_object_get(c, "state")),
				      "accepted") == 0;
	}
	return false;
}

START_TEST(test_all_in_one)
{
	char pv[64], emu[64], idle[64], blk[64], other[64], line[256], *m;
	const char *plat = test_platform(), *on;
	json_object *gp, *ge, *gi, *gb, *agent, *go;
	struct stat sb;
	int64_t pv_exits, emu_exits;

	ck_assert_int_eq(aio_start(&aio, PVMD_BIN, PVM_VMM, PVM_GUEST_DIR, "/tmp/pvm-aio-",
				   (const char *const[]){"--report-interval-ms", "200", NULL}),
			 0);
	create("{\"name\":\"pv1\",\"image\":\"console\",\"vcpus\":1,\"memory_mib\":64,"
	       "\"restart_policy\":\"never\",\"pv\":{\"hooks_required\":[\"console\"]}}",
	       pv, sizeof(pv));
	create("{\"name\":\"emu1\",\"image\":\"console\",\"vcpus\":1,\"memory_mib\":64,"
	       "\"restart_policy\":\"never\",\"pv\":{\"needs_emulation\":true}}",
	       emu, sizeof(emu));
	create("{\"name\":\"blk1\",\"image\":\"block\",\"vcpus\":1,\"memory_mib\":64,"
	       "\"disk_gib\":1,\"cmdline\":\"kib=256\",\"restart_policy\":\"never\","
	       "\"pv\":{\"hooks_required\":[\"block\"]}}",
	       blk, sizeof(blk));
	create("{\"name\":\"idle1\",\"image\":\"idle\",\"vcpus\":1,\"memory_mib\":64,"
	       "\"restart_policy\":\"never\"}",
	       idle, sizeof(idle));

	gp = wait_guest(pv, finished);
	ge = wait_guest(emu, finished);
	ck_assert_msg(finished(gp), "pv guest: %s", json_object_to_json_string(gp));
	ck_assert_msg(finished(ge), "emulated guest: %s", json_object_to_json_string(ge));
	/* the pv guest negotiated its hooks and moved the workload's bytes through console */
	ck_assert(accepted(gp, "console"));
	ck_assert(accepted(gp, "agent"));
	ck_assert_ptr_nonnull(hook_stat(gp, "console"));
	ck_assert_int_eq(
	    json_object_get_int64(json_object_object_get(hook_stat(gp, "console"), "bytes")),
	    CONSOLE_BYTES);
	/* the emulated twin negotiated nothing and took an exit per byte */
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(ge, "capabilities")), 0);
	pv_exits = field_i64(gp, "exits", "total");
	emu_exits = field_i64(ge, "exits", "total");
	ck_assert_int_ge(field_i64(ge, "exits", "io"), CONSOLE_BYTES);
	ck_assert_msg(emu_exits > 20 * pv_exits, "exits: emulated %lld, pv %lld",
		      (long long)emu_exits, (long long)pv_exits);
	/* the host ran them on the platform pvmd was given (PVM_PLATFORM), and said so */
	on = json_object_get_string(json_object_object_get(gp, "platform"));
	ck_assert_msg(on && (!strcmp(plat, "auto") || !strcmp(on, plat)), "pv guest on %s, not %s",
		      on ? on : "(null)", plat);
	/* a guest that requires the platform this host was not given stays pending */
	if (strcmp(plat, "auto") != 0) {
		snprintf(line, sizeof(line),
			 "{\"name\":\"other1\",\"image\":\"idle\",\"vcpus\":1,"
			 "\"memory_mib\":64,\"platform\":\"%s\"}",
			 strcmp(plat, "kvm") ? "kvm" : "process");
		create(line, other, sizeof(other));
		go = get_guest(other);
		ck_assert_str_eq(
		    json_object_get_string(json_object_object_get(go, "observed_state")),
		    "pending");
		json_object_put(go);
	}

	/* a block guest through the control plane: a scratch disk of disk_gib on the
	 * host and its command line from the spec; it ran, wrote, read back and
	 * verified (exit 0 is "stopped", a mismatch would be "failed") */
	gb = wait_guest(blk, finished);
	ck_assert_msg(finished(gb), "block guest: %s", json_object_to_json_string(gb));
	ck_assert(accepted(gb, "block"));
	ck_assert_int_eq(
	    json_object_get_int64(json_object_object_get(hook_stat(gb, "block"), "bytes")),
	    2 * 256 * 1024);
	ck_assert_int_eq(
	    json_object_get_int64(json_object_object_get(hook_stat(gb, "block"), "errors")), 0);
	snprintf(line, sizeof(line), "%s/guests/%s.disk", aio.dir, blk);
	ck_assert_int_eq(stat(line, &sb), 0);
	ck_assert_int_eq(sb.st_size, 1ll << 30);
	ck_assert_int_lt(sb.st_blocks * 512, 16ll << 20); /* sparse: only what was written */

	/* a running guest's agent: hello and report relayed */
	gi = wait_guest(idle, agent_reported);
	agent = json_object_object_get(gi, "agent");
	ck_assert_msg(agent_reported(gi), "idle guest: %s", json_object_to_json_string(gi));
	ck_assert_str_eq(json_object_get_string(json_object_object_get(
			     json_object_object_get(agent, "hello"), "guest_kind")),
			 "microguest");
	ck_assert_int_gt(json_object_get_int64(json_object_object_get(agent, "ready_ms")), 0);

	/* Stopped by its desired state, then wanted again: it starts, restart
	 * policy "never" or not (the host once took it for a guest that ended). */
	snprintf(line, sizeof(line), "/v1/guests/%s", idle);
	json_object_put(call("PATCH", line, "{\"desired_state\":\"stopped\"}", 200));
	go = wait_guest(idle, stopped);
	ck_assert_msg(stopped(go), "idle guest: %s", json_object_to_json_string(go));
	json_object_put(go);
	json_object_put(call("PATCH", line, "{\"desired_state\":\"running\"}", 200));
	go = wait_guest(idle, running);
	ck_assert_msg(running(go), "idle guest: %s", json_object_to_json_string(go));
	json_object_put(go);

	m = metrics();
	snprintf(line, sizeof(line), "pvm_guest_vcpu_guest_exits_total{guest=\"%s\"} %lld\n", pv,
		 (long long)pv_exits);
	ck_assert_msg(strstr(m, line), "no %s", line);
	snprintf(line, sizeof(line), "pvm_guest_vcpu_guest_exits_total{guest=\"%s\"} %lld\n", emu,
		 (long long)emu_exits);
	ck_assert_msg(strstr(m, line), "no %s", line);
	/* the sum stands apart from its parts: summing the reasons counts each exit once */
	ck_assert_ptr_null(strstr(m, "reason=\"total\""));
	snprintf(line, sizeof(line), "guest=\"%s\",hook=\"console\"} %d\n", pv, CONSOLE_BYTES);
	ck_assert_msg(strstr(m, line), "no hook bytes line %s", line);
	snprintf(line, sizeof(line), "pvm_guest_agent_stale{guest=\"%s\"} ", idle);
	ck_assert_msg(strstr(m, line), "no %s", line);
	snprintf(
	    line, sizeof(line),
	    "pvm_guest_info{guest=\"%s\",name=\"pv1\",kind=\"microguest\",platform=\"%s\"} 1\n", pv,
	    on);
	ck_assert_msg(strstr(m, line), "no %s", line);
	ck_assert_msg(
	    host_offers(m, json_object_get_string(json_object_object_get(gp, "host_id")), on),
	    "its host does not offer %s:\n%s", on, m);
	free(m);
	json_object_put(gp);
	json_object_put(ge);
	json_object_put(gi);
	json_object_put(gb);

	ck_assert_int_eq(aio_stop(&aio), 0);
}
END_TEST

static void teardown(void)
{
	char cmd[128];

	aio_kill(&aio);
	if (aio.dir[0]) {
		/* pvmd SIGKILLed after a failed check leaves its guests running:
		 * end the VMMs of this test's state directory, and only those */
		snprintf(cmd, sizeof(cmd), "pkill -KILL -f -- '--api-sock %s/guests/'", aio.dir);
		if (system(cmd) == -1)
			fprintf(stderr, "could not run pkill\n");
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", aio.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", aio.dir);
	}
}

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	/* before anything is allocated: LeakSanitizer checks skipped runs too */
	test_platform_require();
	s = suite_create("daemon_all_in_one");
	tc = tcase_create("all_in_one");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_all_in_one);
	tcase_add_checked_fixture(tc, NULL, teardown);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
