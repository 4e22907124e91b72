/* SPDX-License-Identifier: MIT */
/*
 * End to end on real KVM: the agent-microguest image runs in hv's VMM with
 * its agent on the agent-channel hook; this test plays the VMM side's agent
 * wiring (agent_host_rx on hv's receive hook, agent_host_output into
 * hv_agent_send) and checks that the reported counts match what the guest
 * did: console bytes reported = console bytes the VMM served = bytes that
 * reached the console.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/agent.h"
#include "common/common.h"
#include "hv/hv.h"
#include "tests/platform.h"

#define BYTES	   100000
#define GIVE_UP_NS (60ull * 1000000000ull) /* hang guard, not a timing check */

struct runner {
	struct hv_vm *vm;
	int rc;
	volatile int done;
};

static void *run_vm(void *arg)
{
	struct runner *r = arg;

	r->rc = hv_vm_run(r->vm);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static json_object *get(json_object *o, const char *path)
{
	char copy[256], *save, *key;

	snprintf(copy, sizeof(copy), "%s", path);
	for (key = strtok_r(copy, "/", &save); key && o; key = strtok_r(NULL, "/", &save))
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
	return o;
}

static int64_t get_int(json_object *o, const char *path)
{
	json_object *v = get(o, path);

	ck_assert_msg(v != NULL, "missing %s in %s", path, json_object_to_json_string(o));
	return json_object_get_int64(v);
}

START_TEST(reports_match_what_the_guest_did)
{
	struct hv_config cfg;
	struct pvm_err err = {0};
	struct runner r = {0};
	struct agent_host *h;
	json_object *j, *stats;
	uint8_t buf[4096];
	uint64_t give_up = pvm_now_ns() + GIVE_UP_NS;
	int console = memfd_create("console", MFD_CLOEXEC);
	struct stat st;
	pthread_t t;

	ck_assert_int_ge(console, 0);
	hv_config_init(&cfg);
	cfg.image = AGENT_MICROGUEST;
	ck_assert_int_eq(hv_platform_parse(test_platform(), &cfg.platform, &err), 0);
	cfg.mem_mib = 16;
	cfg.vcpus = 1;
	cfg.cmdline = "mode=pv bytes=100000";
	cfg.console_fd = console;
	ck_assert_msg(hv_vm_create(&cfg, &r.vm, &err) == 0, "hv_vm_create: %s", err.msg);
	h = agent_host_new(NULL, pvm_now_ns());
	ck_assert_ptr_nonnull(h);
	hv_agent_set_rx(r.vm, agent_host_rx, h);
	ck_assert_int_eq(pthread_create(&t, NULL, run_vm, &r), 0);
	while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) {
		size_t n = agent_host_output(h, buf, sizeof(buf), pvm_now_ns());

		if (n)
			ck_assert_int_eq(hv_agent_send(r.vm, buf, n), 0);
		if (pvm_now_ns() > give_up)
			hv_vm_stop(r.vm, 0);
		pvm_sleep_ns(1000000);
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(r.rc == 0, "guest exit %d: %s", r.rc, hv_vm_exit_reason(r.vm));

	ck_assert_int_eq(fstat(console, &st), 0);
	ck_assert_int_eq(st.st_size, BYTES);

	j = agent_host_to_json(h, pvm_now_ns());
	ck_assert_str_eq(json_object_get_string(get(j, "state")), "gone");
	ck_assert_str_eq(json_object_get_string(get(j, "bye/reason")), "exit");
	ck_assert_str_eq(json_object_get_string(get(j, "hello/guest_kind")), "microguest");
	ck_assert_str_eq(json_object_get_string(get(j, "negotiation/status")), "accepted");
	ck_assert_int_eq(get_int(j, "report/counters/console_bytes"), BYTES);
	ck_assert_int_eq(get_int(j, "report/hooks/console/bytes"), BYTES);
	ck_assert_int_eq(get_int(j, "report/hooks/console/calls"),
			 get_int(j, "report/counters/console_lines"));
	ck_assert_int_gt(get_int(j, "report/hooks/console/cycles"), 0);
	ck_assert_int_eq(get_int(j, "counters/rejected"), 0);
	ck_assert_int_eq(get_int(j, "counters/garbage_bytes"), 0);
	ck_assert_int_ge(get_int(j, "counters/syncs_answered"), 1);
	json_object_put(j);

	/* The VMM's own count of console bytes served agrees with the guest's. */
	stats = hv_stats_json(r.vm);
	ck_assert_int_eq(agent_host_merge_stats(h, stats, pvm_now_ns()), 0);
	ck_assert_int_eq(get_int(stats, "hooks/console/bytes"), BYTES);
	ck_assert_int_eq(get_int(stats, "hooks/console/guest/bytes"), BYTES);
	ck_assert_int_gt(get_int(stats, "hooks/agent/calls"), 0);
	json_object_put(stats);

	agent_host_free(h);
	hv_vm_destroy(r.vm);
	close(console);
}
END_TEST

static bool pong_and_two_reports(struct agent_host *h)
{
	struct agent_host_counters c;
	struct agent_report rep;

	agent_host_counters(h, &c);
	return c.pongs >= 1 && agent_host_report(h, &rep) == 0 && rep.report_no >= 2;
}

/* Host requests travel the real channel: ping, then a graceful shutdown. */
START_TEST(requests_reach_the_guest_agent)
{
	struct hv_config cfg;
	struct pvm_err err = {0};
	struct runner r = {0};
	struct agent_host *h;
	struct agent_hello hello;
	uint8_t buf[4096];
	uint64_t give_up = pvm_now_ns() + GIVE_UP_NS;
	bool pinged = false, asked = false;
	json_object *j;
	pthread_t t;

	hv_config_init(&cfg);
	cfg.image = AGENT_MICROGUEST;
	ck_assert_int_eq(hv_platform_parse(test_platform(), &cfg.platform, &err), 0);
	cfg.mem_mib = 16;
	cfg.vcpus = 1;
	cfg.cmdline = "mode=pv bytes=1000 linger_ms=30000";
	cfg.console_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(cfg.console_fd, 0);
	ck_assert_msg(hv_vm_create(&cfg, &r.vm, &err) == 0, "hv_vm_create: %s", err.msg);
	h = agent_host_new(NULL, pvm_now_ns());
	hv_agent_set_rx(r.vm, agent_host_rx, h);
	ck_assert_int_eq(pthread_create(&t, NULL, run_vm, &r), 0);
	while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) {
		uint64_t now = pvm_now_ns();
		size_t n;

		if (!pinged && agent_host_hello(h, &hello) == 0)
			pinged = agent_host_ping(h, now) == 0;
		if (pinged && !asked && pong_and_two_reports(h))
			asked = agent_host_shutdown(h, 1000, now) == 0;
		n = agent_host_output(h, buf, sizeof(buf), now);
		if (n)
			ck_assert_int_eq(hv_agent_send(r.vm, buf, n), 0);
		if (now > give_up)
			hv_vm_stop(r.vm, 0);
		pvm_sleep_ns(1000000);
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(r.rc == 0, "guest exit %d: %s", r.rc, hv_vm_exit_reason(r.vm));
	ck_assert(asked);
	j = agent_host_to_json(h, pvm_now_ns());
	ck_assert_str_eq(json_object_get_string(get(j, "bye/reason")), "shutdown");
	ck_assert_str_eq(json_object_get_string(get(j, "last_ack/request")), "shutdown");
	ck_assert_int_eq(get_int(j, "report/counters/console_bytes"), 1000);
	ck_assert_int_ge(get_int(j, "counters/pongs"), 1);
	ck_assert(get(j, "ping_rtt_us") != NULL);
	json_object_put(j);
	agent_host_free(h);
	hv_vm_destroy(r.vm);
	close(cfg.console_fd);
}
END_TEST

/*
 * Runs cfg's guest with the VMM side's agent wired as above until it powers
 * off; stop_after_ns after the start (0: never) asks for a graceful stop.
 * Returns the agent session (the caller's) with the VM destroyed; *stats
 * (the caller's) the VMM's statistics merged with it.
 */
static struct agent_host *run_to_end(struct hv_config *cfg, uint64_t stop_after_ns,
				     json_object **stats)
{
	struct pvm_err err = {0};
	struct runner r = {0};
	struct agent_host *h;
	uint8_t buf[4096];
	uint64_t start = pvm_now_ns(), give_up = start + GIVE_UP_NS;
	bool stopping = false;
	pthread_t t;

	ck_assert_int_eq(hv_platform_parse(test_platform(), &cfg->platform, &err), 0);
	ck_assert_msg(hv_vm_create(cfg, &r.vm, &err) == 0, "hv_vm_create: %s", err.msg);
	h = agent_host_new(NULL, pvm_now_ns());
	ck_assert_ptr_nonnull(h);
	hv_agent_set_rx(r.vm, agent_host_rx, h);
	ck_assert_int_eq(pthread_create(&t, NULL, run_vm, &r), 0);
	while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) {
		uint64_t now = pvm_now_ns();
		size_t n = agent_host_output(h, buf, sizeof(buf), now);

		if (n)
			ck_assert_int_eq(hv_agent_send(r.vm, buf, n), 0);
		if (stop_after_ns && !stopping && now > start + stop_after_ns)
			stopping = hv_vm_stop(r.vm, 10000) == 0;
		if (now > give_up)
			hv_vm_stop(r.vm, 0);
		pvm_sleep_ns(1000000);
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(r.rc == 0, "guest exit %d: %s", r.rc, hv_vm_exit_reason(r.vm));
	*stats = hv_stats_json(r.vm);
	ck_assert_int_eq(agent_host_merge_stats(h, *stats, pvm_now_ns()), 0);
	hv_vm_destroy(r.vm);
	return h;
}

/* A 16 MiB, 1-vCPU guest of image with cmdline, its console in the memfd
 * returned. */
static int console_guest(struct hv_config *cfg, const char *image, const char *cmdline)
{
	int console = memfd_create("console", MFD_CLOEXEC);

	ck_assert_int_ge(console, 0);
	hv_config_init(cfg);
	cfg->image = image;
	cfg->mem_mib = 16;
	cfg->vcpus = 1;
	cfg->cmdline = cmdline;
	cfg->console_fd = console;
	return console;
}

static bool listed(json_object *a, const char *name)
{
	for (size_t i = 0; a && i < json_object_array_length(a); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(a, i)), name))
			return true;
	return false;
}

/*
 * agent=on: an emulated guest reports through the agent, negotiating the
 * agent and clock hooks alone, while its console stays on the UART. The
 * steady console guest's own count of its work is every byte that reached
 * the console, none of them through the console hook.
 */
START_TEST(an_emulated_guest_reports_with_agent_on)
{
	struct hv_config cfg;
	json_object *j, *stats, *accepted;
	struct agent_host *h;
	int console = console_guest(&cfg, GUEST_STEADY, "kind=console mode=emulated agent=on");
	struct stat st;

	h = run_to_end(&cfg, 1500ull * 1000000, &stats);
	j = agent_host_to_json(h, pvm_now_ns());
	accepted = get(j, "negotiation/accepted");
	ck_assert(listed(accepted, "agent") && listed(accepted, "clock"));
	ck_assert(!listed(accepted, "console"));
	ck_assert_int_eq(fstat(console, &st), 0);
	ck_assert_int_gt(st.st_size, 0);
	ck_assert_int_eq(get_int(j, "report/counters/work_units"), st.st_size);
	ck_assert_int_eq(get_int(stats, "hooks/console/bytes"), 0);
	ck_assert_int_ge(get_int(stats, "io_exits/uart"), st.st_size);
	json_object_put(j);
	json_object_put(stats);
	agent_host_free(h);
	close(console);
}
END_TEST

/* The probe times its ops and reports nearest-rank percentiles. */
START_TEST(the_probe_reports_its_percentiles)
{
	struct hv_config cfg;
	json_object *j, *stats;
	struct agent_host *h;
	int console = console_guest(&cfg, GUEST_PROBE, "mode=pv ops=50 gap_us=100");
	struct stat st;

	h = run_to_end(&cfg, 2000ull * 1000000, &stats);
	j = agent_host_to_json(h, pvm_now_ns());
	ck_assert_int_eq(get_int(j, "report/counters/probe_ops"), 50);
	ck_assert_int_gt(get_int(j, "report/counters/probe_p50_ns"), 0);
	ck_assert_int_ge(get_int(j, "report/counters/probe_p99_ns"),
			 get_int(j, "report/counters/probe_p50_ns"));
	ck_assert_int_eq(fstat(console, &st), 0);
	ck_assert_int_eq(st.st_size, 50 * 32);
	ck_assert_int_eq(get_int(stats, "hooks/console/bytes"), 50 * 32);
	json_object_put(j);
	json_object_put(stats);
	agent_host_free(h);
	close(console);
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
	s = suite_create("agent_microguest");
	tc = tcase_create("microguest");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, reports_match_what_the_guest_did);
	tcase_add_test(tc, requests_reach_the_guest_agent);
	tcase_add_test(tc, an_emulated_guest_reports_with_agent_on);
	tcase_add_test(tc, the_probe_reports_its_percentiles);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
