/* SPDX-License-Identifier: MIT */
/*
 * Failover of the clients that know several controllers, with real
 * processes over real HTTP on loopback: three `pvmd --role controller` on one
 * SQLite file (tests/cluster/), a real `pvmd --role host` given all three
 * (the leader first), and the real pvmctl given the same list. The leader
 * is SIGKILLed: the host keeps heartbeating through another controller and
 * never turns unreachable, and `pvmctl guest create --wait` with the dead
 * controller first in its list still creates a guest, which the new leader
 * places on the host and the host runs (its assignment long poll failed
 * over too).
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/common.h"
#include "tests/cluster/cluster.h"
#include "tests/platform.h"

#define REPLICAS 3
#define HB_S	 2

static struct cluster cl;
static char dir[] = "/tmp/pvm-host-failover-XXXXXX";
static char list[3 * 64 + 3]; /* every controller, the leader first */
static pid_t host;

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(cluster_start(&cl, PVMD_BIN, NULL, REPLICAS, HB_S), 0);
}

static void teardown(void)
{
	char cmd[200];

	/* A clean stop stops the host's guests (--stop-guests-on-exit). */
	if (host > 0) {
		kill(host, SIGTERM);
		waitpid(host, NULL, 0);
	}
	cluster_stop(&cl);
	/* What a failed test may have left: VMMs serving sockets under dir. */
	snprintf(cmd, sizeof(cmd), "pkill -KILL -f -- '[-]-api-sock %s/'; rm -rf %s", dir, dir);
	ck_assert_int_ne(system(cmd), -1);
}

static const char *field(json_object *o, const char *name)
{
	const char *s = NULL;

	pvm_json_get_str(o, name, &s);
	return s ? s : "";
}

/* One admin request to replica i; the answer parsed (caller puts), NULL unless want. */
static json_object *req(int i, const char *method, const char *path, const char *body, long want)
{
	json_object *o = NULL;
	char *ans = NULL;
	long st = 0;

	ck_assert_int_eq(cluster_req(&cl, i, method, path, body, NULL, &st, &ans), 0);
	if (st == want && ans)
		o = json_tokener_parse(ans);
	free(ans);
	return o;
}

/* The replica that leads, waiting for one to take the lease. */
static int leader(void)
{
	int l = -1;

	for (int k = 0; k < 200 && l < 0; k++) {
		l = cluster_leader(&cl);
		if (l < 0)
			pvm_sleep_ns(50 * 1000 * 1000);
	}
	ck_assert_int_ge(l, 0);
	return l;
}

/* The host's row as replica i has it (caller puts), or NULL. */
static json_object *host_row(int i)
{
	json_object *doc = req(i, "GET", "/v1/hosts", NULL, 200), *items, *row = NULL;

	if (doc && json_object_object_get_ex(doc, "items", &items) &&
	    json_object_array_length(items) == 1)
		row = json_object_get(json_object_array_get_idx(items, 0));
	json_object_put(doc);
	return row;
}

static const char *host_log(void)
{
	static char text[1 << 16];
	char path[64];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/host.log", dir);
	fp = fopen(path, "r");
	n = fp ? fread(text, 1, sizeof(text) - 1, fp) : 0;
	text[n] = '\0';
	if (fp)
		fclose(fp);
	return text;
}

/* `pvmd --role host` as an operator runs it, given every controller. */
static pid_t start_host(const char *token)
{
	char tokfile[64], state[64], log[64];
	pid_t pid;
	FILE *fp;

	snprintf(tokfile, sizeof(tokfile), "%s/host.token", dir);
	snprintf(state, sizeof(state), "%s/h", dir);
	snprintf(log, sizeof(log), "%s/host.log", dir);
	fp = fopen(tokfile, "w");
	ck_assert_ptr_nonnull(fp);
	fprintf(fp, "%s\n", token);
	fclose(fp);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(open(log, O_WRONLY | O_CREAT | O_APPEND, 0644), 2);
		execl(PVMD_BIN, "pvmd", "--role", "host", "--controller", list, "--token-file",
		      tokfile, "--state-dir", state, "--host-name", "fo-host", "--vmm", PVM_VMM,
		      "--image-dir", PVM_GUEST_DIR, "--report-interval-ms", "500",
		      "--stop-guests-on-exit", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Runs pvmctl with PVM_ADDR=addrs and the admin token; its output into out. */
static int pvmctl(const char *addrs, const char *args, char *out, size_t len)
{
	char cmd[512];
	size_t n;
	FILE *fp;
	int st;

	setenv("PVM_ADDR", addrs, 1);
	setenv("PVM_TOKEN", cl.admin, 1);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", PVMCTL_BIN, args);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	n = fread(out, 1, len - 1, fp);
	out[n] = '\0';
	st = pclose(fp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(host_and_pvmctl_survive_the_first_controller)
{
	json_object *tok, *row = NULL;
	int lead = leader(), alive = (lead + 1) % REPLICAS;
	uint64_t killed_ms, until;
	char out[4096];
	int64_t beat = 0;

	snprintf(list, sizeof(list), "%s,%s,%s", cl.rep[lead].url,
		 cl.rep[(lead + 1) % REPLICAS].url, cl.rep[(lead + 2) % REPLICAS].url);
	tok = req(lead, "POST", "/v1/tokens", "{\"name\":\"fo-host\",\"role\":\"host\"}", 201);
	ck_assert_ptr_nonnull(tok);
	host = start_host(field(tok, "secret"));
	json_object_put(tok);
	for (int k = 0; k < 400 && !row; k++) {
		row = host_row(lead);
		if (row && strcmp(field(row, "state"), "ready") != 0) {
			json_object_put(row);
			row = NULL;
		}
		if (!row)
			pvm_sleep_ns(50 * 1000 * 1000);
	}
	ck_assert_msg(row, "the host never became ready:\n%s", host_log());
	json_object_put(row);

	/* The first controller of every list dies; another takes the lease. */
	cluster_kill(&cl, lead);
	killed_ms = pvm_wall_ns() / 1000000;
	/* Four heartbeat intervals: a host silent for three is unreachable. */
	until = pvm_now_ns() + 4ull * HB_S * 1000000000ull;
	while (pvm_now_ns() < until) {
		row = host_row(alive);
		ck_assert_msg(row, "no host row from %s", cl.rep[alive].url);
		ck_assert_msg(strcmp(field(row, "state"), "ready") == 0,
			      "the host turned %s after the kill:\n%s", field(row, "state"),
			      host_log());
		pvm_json_get_int(row, "last_heartbeat_ms", &beat);
		json_object_put(row);
		pvm_sleep_ns(250 * 1000 * 1000);
	}
	ck_assert_msg(beat > (int64_t)killed_ms, "no heartbeat since the kill:\n%s", host_log());
	ck_assert_msg(strstr(host_log(), "; trying http://127.0.0.1:"), "%s", host_log());
	ck_assert_int_ne(leader(), lead);

	/* pvmctl, the dead controller first: a read, and a create the host runs. */
	ck_assert_msg(pvmctl(list, "host list", out, sizeof(out)) == 0, "%s", out);
	ck_assert_msg(strstr(out, "fo-host") && strstr(out, "ready"), "%s", out);
	ck_assert_msg(pvmctl(list,
			     "-v guest create fo-1 --image idle --memory 16 --wait "
			     "--wait-timeout 60",
			     out, sizeof(out)) == 0,
		      "%s\nhost log:\n%s", out, host_log());
	ck_assert_msg(strstr(out, "guest fo-1 running on fo-host"), "%s", out);
	/* -v says which controller failed and which answered */
	ck_assert_msg(strstr(out, cl.rep[lead].url) && strstr(out, "HTTP 201"), "%s", out);
	ck_assert_msg(pvmctl(list, "guest rm fo-1", out, sizeof(out)) == 0, "%s", out);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	/* before anything is allocated: LeakSanitizer checks skipped runs too */
	test_platform_require();
	s = suite_create("host_failover");
	tc = tcase_create("failover");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, host_and_pvmctl_survive_the_first_controller);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
