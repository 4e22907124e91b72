// SPDX-License-Identifier: MIT
/*
 * The guest agent through pvm-vmm, end to end on real KVM: the stock
 * workloads run the agent over the agent-channel hook, the VMM's session
 * decodes it, and the control socket and --stats-json show what the guest
 * reported beside what the VMM served. Also staleness while the guest is
 * paused, host requests, and a guest that floods garbage.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm.h"

#define TRIES 1000 /* 10 ms apart: a hang guard, not a timing check */

static json_object *run_stats(struct vmm_result *r, const char *image, const char *cmdline,
			      const char *disk)
{
	char stats[4096];
	const char *argv[] = {
	    "run",	    "--image", vmm_guest(image),       "--cmdline", cmdline,
	    "--stats-json", stats,     disk ? "--disk" : NULL, disk,	    NULL};

	snprintf(stats, sizeof(stats), "%s", vmm_tmp("stats.json"));
	vmm_run(r, argv);
	return vmm_read_json(stats);
}

static const char *jstr(json_object *o, const char *path)
{
	char key[128];
	const char *p = path;

	while (o && *p) {
		size_t n = strcspn(p, ".");

		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		if (!json_object_object_get_ex(o, key, &o))
			return "";
		p += n + (p[n] == '.');
	}
	return o ? json_object_get_string(o) : "";
}

START_TEST(console_reports_match_the_vmm)
{
	struct vmm_result r;
	json_object *s = run_stats(&r, "console", "mode=pv bytes=100000 agent_ms=100", NULL);

	ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
	ck_assert_ptr_nonnull(s);
	/* written = reported = served by the console hook = what reached the console */
	ck_assert_uint_eq(r.out_len, 100000);
	ck_assert_int_eq(vmm_json_int(s, "agent.counters.console_bytes"), 100000);
	ck_assert_int_eq(vmm_json_int(s, "hooks.console.guest.bytes"), 100000);
	ck_assert_int_eq(vmm_json_int(s, "hooks.console.bytes"), 100000);
	ck_assert_int_gt(vmm_json_int(s, "hooks.console.guest.calls"), 0);
	ck_assert_int_gt(vmm_json_int(s, "hooks.console.guest.cycles"), 0);
	ck_assert_int_eq(vmm_json_int(s, "hooks.console.guest.errors"), 0);
	ck_assert_int_gt(vmm_json_int(s, "hooks.clock.guest.calls"), 0);
	/* the final report came, then BYE */
	ck_assert_str_eq(jstr(s, "agent.state"), "gone");
	ck_assert_int_ge(vmm_json_int(s, "agent.report_no"), 1);
	json_object_put(s);
	vmm_result_free(&r);
}
END_TEST

START_TEST(block_reports_match_the_vmm)
{
	const char *disk = vmm_tmp("agent-disk.img");
	char dpath[4096];
	struct vmm_result r;
	json_object *s;
	FILE *f;

	snprintf(dpath, sizeof(dpath), "%s", disk);
	f = fopen(dpath, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	s = run_stats(&r, "block", "mode=pv kib=256", dpath);
	ck_assert_msg(r.code == 0, "exit %d: %s %s", r.code, r.out, r.err);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(vmm_json_int(s, "agent.counters.block_bytes_written"), 256 * 1024);
	ck_assert_int_eq(vmm_json_int(s, "agent.counters.block_bytes_read"), 256 * 1024);
	ck_assert_int_eq(vmm_json_int(s, "hooks.block.guest.bytes"), 512 * 1024);
	ck_assert_int_eq(vmm_json_int(s, "hooks.block.bytes"), 512 * 1024);
	ck_assert_int_eq(vmm_json_int(s, "hooks.block.guest.calls"), 2);
	ck_assert_int_eq(vmm_json_int(s, "hooks.block.guest.errors"), 0);
	/* the console too: the workload's one line */
	ck_assert_int_eq(vmm_json_int(s, "agent.counters.console_bytes"), (long long)r.out_len);
	ck_assert_int_eq(vmm_json_int(s, "hooks.console.bytes"), (long long)r.out_len);
	unlink(dpath);
	json_object_put(s);
	vmm_result_free(&r);
}
END_TEST

START_TEST(clock_and_compute_report)
{
	struct vmm_result r;
	json_object *s = run_stats(&r, "clock", "mode=pv reads=5000", NULL);
	long long calls;

	ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
	ck_assert_int_eq(vmm_json_int(s, "agent.counters.clock_reads"), 5000);
	/* the workload's reads and its stopwatch, plus the agent's own time
	 * reads up to its final report; the VMM counts the reads after it too */
	calls = vmm_json_int(s, "hooks.clock.guest.calls");
	ck_assert_int_ge(calls, 5002);
	ck_assert_int_le(calls, vmm_json_int(s, "hooks.clock.guest_reads"));
	ck_assert_int_gt(vmm_json_int(s, "hooks.clock.guest.cycles"), 0);
	json_object_put(s);
	vmm_result_free(&r);
	s = run_stats(&r, "compute", "mode=pv iters=3000000", NULL);
	ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
	ck_assert_int_eq(vmm_json_int(s, "agent.counters.compute_iters"), 3000000);
	ck_assert_str_eq(jstr(s, "agent.state"), "gone");
	json_object_put(s);
	vmm_result_free(&r);
}
END_TEST

/* Without the agent hook the workloads run as before, and no session exists. */
START_TEST(no_agent_without_the_hook)
{
	struct vmm_result r;
	char stats[4096];
	const char *argv[] = {
	    "run",     "--image",	vmm_guest("console"), "--cmdline", "mode=pv bytes=1000",
	    "--hooks", "console,clock", "--stats-json",	      stats,	   NULL};
	json_object *s, *a;

	snprintf(stats, sizeof(stats), "%s", vmm_tmp("stats.json"));
	vmm_run(&r, argv);
	s = vmm_read_json(stats);
	ck_assert_int_eq(r.code, 0);
	ck_assert_uint_eq(r.out_len, 1000);
	ck_assert(!json_object_object_get_ex(s, "agent", &a));
	ck_assert_int_eq(vmm_json_int(s, "hooks.agent.doorbells"), 0);
	json_object_put(s);
	vmm_result_free(&r);
}
END_TEST

static char sock[4096];

static pid_t start(const char *image, const char *cmdline, const char *sockname, const char *out)
{
	char outp[4096];
	const char *argv[] = {
	    "run", "--image", vmm_guest(image), "--cmdline", cmdline, "--api-sock", sock, NULL};

	snprintf(sock, sizeof(sock), "%s", vmm_tmp(sockname));
	snprintf(outp, sizeof(outp), "%s", vmm_tmp(out));
	return vmm_spawn(argv, outp);
}

/* Asks `agent` until path reaches at least min; returns the last answer. */
static json_object *wait_agent(int fd, const char *path, long long min)
{
	for (int i = 0; i < TRIES; i++) {
		json_object *a = vmm_ctl_ask(fd, "{\"cmd\":\"agent\"}");

		ck_assert_ptr_nonnull(a);
		if (vmm_json_int(a, path) >= min)
			return a;
		json_object_put(a);
		usleep(10000);
	}
	ck_abort_msg("agent.%s never reached %lld", path, min);
	return NULL;
}

static bool ask_ok(int fd, const char *line)
{
	json_object *a = vmm_ctl_ask(fd, line);
	json_object *v;
	bool ok = a && json_object_object_get_ex(a, "ok", &v) && json_object_get_boolean(v);

	json_object_put(a);
	return ok;
}

START_TEST(socket_shows_reports_staleness_and_requests)
{
	pid_t pid = start("idle", "mode=pv agent_ms=100", "agent.sock", "idle.out");
	int fd = vmm_ctl_connect(sock);
	json_object *a, *st;
	long long no;

	ck_assert_int_ge(fd, 0);
	a = wait_agent(fd, "agent.report.report_no", 2);
	ck_assert_str_eq(jstr(a, "agent.state"), "connected");
	ck_assert_str_eq(jstr(a, "agent.hello.os"), "pvm-microguest idle");
	ck_assert_str_eq(jstr(a, "agent.hello.guest_kind"), "microguest");
	ck_assert_str_eq(jstr(a, "agent.negotiation.status"), "accepted");
	ck_assert_str_eq(jstr(a, "agent.report.stale"), "false");
	ck_assert_int_eq(vmm_json_int(a, "agent.report.interval_ms"), 100);
	ck_assert_int_eq(vmm_json_int(a, "agent.counters.rejected"), 0);
	ck_assert_int_ge(vmm_json_int(a, "agent.counters.syncs_answered"), 1);
	json_object_put(a);
	/* the stats answer carries the guest's view: "idle: up\n" reported and served */
	a = vmm_ctl_ask(fd, "{\"cmd\":\"stats\"}");
	ck_assert(json_object_object_get_ex(a, "stats", &st));
	ck_assert_int_eq(vmm_json_int(st, "agent.counters.console_bytes"), 9);
	ck_assert_int_eq(vmm_json_int(st, "hooks.console.bytes"), 9);
	ck_assert_int_eq(vmm_json_int(st, "hooks.console.guest.bytes"), 9);
	json_object_put(a);

	/* a paused guest's agent goes quiet: the report is kept and marked stale */
	ck_assert(ask_ok(fd, "{\"cmd\":\"pause\"}"));
	a = vmm_ctl_ask(fd, "{\"cmd\":\"agent\"}");
	no = vmm_json_int(a, "agent.report.report_no");
	json_object_put(a);
	for (int i = 0; i < TRIES; i++) {
		a = vmm_ctl_ask(fd, "{\"cmd\":\"agent\"}");
		if (!strcmp(jstr(a, "agent.report.stale"), "true"))
			break;
		json_object_put(a);
		a = NULL;
		usleep(10000);
	}
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(vmm_json_int(a, "agent.report.report_no"), no);
	json_object_put(a);
	a = vmm_ctl_ask(fd, "{\"cmd\":\"stats\"}");
	ck_assert(json_object_object_get_ex(a, "stats", &st));
	ck_assert_str_eq(jstr(st, "agent.stale"), "true");
	json_object_put(a);
	/* resumed, it reports again and is fresh */
	ck_assert(ask_ok(fd, "{\"cmd\":\"resume\"}"));
	a = wait_agent(fd, "agent.report.report_no", no + 1);
	json_object_put(a);
	for (int i = 0; i < TRIES; i++) {
		a = vmm_ctl_ask(fd, "{\"cmd\":\"agent\"}");
		if (!strcmp(jstr(a, "agent.report.stale"), "false"))
			break;
		json_object_put(a);
		a = NULL;
		usleep(10000);
	}
	ck_assert_ptr_nonnull(a);
	json_object_put(a);

	/* host requests through the agent */
	ck_assert(ask_ok(fd, "{\"cmd\":\"agent_ping\"}"));
	a = wait_agent(fd, "agent.counters.pongs", 1);
	ck_assert_int_ge(vmm_json_int(a, "agent.ping_rtt_us"), 0);
	json_object_put(a);
	ck_assert(ask_ok(fd, "{\"cmd\":\"agent_set_interval\",\"interval_ms\":200}"));
	for (int i = 0; i < TRIES; i++) {
		a = vmm_ctl_ask(fd, "{\"cmd\":\"agent\"}");
		if (vmm_json_int(a, "agent.report.interval_ms") == 200)
			break;
		json_object_put(a);
		a = NULL;
		usleep(10000);
	}
	ck_assert_ptr_nonnull(a);
	json_object_put(a);
	ck_assert(ask_ok(fd, "{\"cmd\":\"agent_renegotiate\"}"));
	for (int i = 0; i < TRIES; i++) {
		a = vmm_ctl_ask(fd, "{\"cmd\":\"agent\"}");
		if (!strcmp(jstr(a, "agent.last_ack.request"), "renegotiate"))
			break;
		json_object_put(a);
		a = NULL;
		usleep(10000);
	}
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(vmm_json_int(a, "agent.last_ack.status"), 0);
	json_object_put(a);
	/* graceful shutdown through the agent: final report, BYE, exit 0 */
	ck_assert(ask_ok(fd, "{\"cmd\":\"agent_shutdown\",\"timeout_ms\":10000}"));
	close(fd);
	ck_assert_int_eq(vmm_wait(pid), 0);
}
END_TEST

/* Before the guest's agent speaks there is no session; requests say so. */
START_TEST(requests_without_an_agent)
{
	pid_t pid = start("idle", "mode=pv agent=off", "noagent.sock", "noagent.out");
	int fd = vmm_ctl_connect(sock);
	json_object *a, *v;

	ck_assert_int_ge(fd, 0);
	a = vmm_ctl_ask(fd, "{\"cmd\":\"agent\"}");
	ck_assert(json_object_object_get_ex(a, "agent", &v));
	ck_assert_ptr_null(v);
	json_object_put(a);
	ck_assert(!ask_ok(fd, "{\"cmd\":\"agent_ping\"}"));
	ck_assert(!ask_ok(fd, "{\"cmd\":\"agent_shutdown\"}"));
	ck_assert(ask_ok(fd, "{\"cmd\":\"stop\",\"timeout_ms\":5000}"));
	close(fd);
	ck_assert_int_eq(vmm_wait(pid), 0);
}
END_TEST

/*
 * A guest floods its agent channel with garbage while a second VMM runs a
 * well-behaved guest: the flood's frames are rejected and counted, the excess
 * is rate-limited, its VMM keeps answering, its agent is heard again after
 * the flood, and the other guest's agent reports undisturbed.
 */
START_TEST(garbage_flood_is_rejected_and_limited)
{
	pid_t other = start("idle", "mode=pv agent_ms=100", "other.sock", "other.out");
	int ofd = vmm_ctl_connect(sock);
	pid_t pid = start("flood", "mode=pv kib=1024 linger_ms=60000 agent_ms=100", "flood.sock",
			  "flood.out");
	int fd = vmm_ctl_connect(sock);
	json_object *a;
	long long before;

	ck_assert_int_ge(ofd, 0);
	ck_assert_int_ge(fd, 0);
	a = wait_agent(ofd, "agent.report.report_no", 1);
	before = vmm_json_int(a, "agent.report.report_no");
	json_object_put(a);
	a = wait_agent(fd, "agent.counters.rate_limited_bytes", 1);
	ck_assert_int_gt(vmm_json_int(a, "agent.counters.rejected"), 0);
	ck_assert_int_gt(vmm_json_int(a, "agent.counters.garbage_bytes"), 0);
	json_object_put(a);
	ck_assert(ask_ok(fd, "{\"cmd\":\"status\"}"));
	/* the flood's agent is heard again: its report after the flood */
	a = wait_agent(fd, "agent.report.counters.garbage_kib", 1024);
	json_object_put(a);
	/* and it still takes requests: a graceful shutdown ends the flood guest */
	ck_assert(ask_ok(fd, "{\"cmd\":\"agent_shutdown\",\"timeout_ms\":10000}"));
	close(fd);
	ck_assert_int_eq(vmm_wait(pid), 0);
	/* the other guest kept reporting, with nothing rejected */
	a = wait_agent(ofd, "agent.report.report_no", before + 2);
	ck_assert_int_eq(vmm_json_int(a, "agent.counters.rejected"), 0);
	ck_assert_int_eq(vmm_json_int(a, "agent.counters.rate_limited_bytes"), 0);
	json_object_put(a);
	ck_assert(ask_ok(ofd, "{\"cmd\":\"stop\",\"timeout_ms\":5000}"));
	close(ofd);
	ck_assert_int_eq(vmm_wait(other), 0);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	/* before anything is allocated: LeakSanitizer checks skipped runs too */
	vmm_require_platform();
	s = suite_create("hv_agent");
	tc = tcase_create("agent");
	signal(SIGPIPE, SIG_IGN); /* a VMM that went away fails an assertion instead */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, console_reports_match_the_vmm);
	tcase_add_test(tc, block_reports_match_the_vmm);
	tcase_add_test(tc, clock_and_compute_report);
	tcase_add_test(tc, no_agent_without_the_hook);
	tcase_add_test(tc, socket_shows_reports_staleness_and_requests);
	tcase_add_test(tc, requests_without_an_agent);
	tcase_add_test(tc, garbage_flood_is_rejected_and_limited);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
