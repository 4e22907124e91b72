/* SPDX-License-Identifier: MIT */
/*
 * A Linux guest through the REST API, end to end: the real pvmd all-in-one
 * with its libvirt driver on the lv fixture's libvirtd (QEMU, TCG here), the
 * image the linux_image fixture built, registered through /v1/images (format
 * linux). POST /v1/guests with kind linux is placed on the host (which
 * reports kind linux and how it runs Linux guests), the host's reconcile
 * defines and starts the domain, the agent's hello reaches the controller,
 * GET /v1/guests/{id} and `pvmctl guest show` display the kernel, the
 * clocksource and the KVM pv features, and `pvmctl guest stop` powers it off.
 * Skips with one line where the fixtures could not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "tests/daemon/aio.h"
#include "tests/daemon/lv_fixture.h"

#define GIVE_UP_NS (240ull * 1000000000ull) /* hang guard only, not a timing check */

static char lv_uri[512], image[PATH_MAX], gname[64];
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

/* Polls the guest until done(g); returns the last answer. */
static json_object *wait_guest(const char *id, bool (*done)(json_object *g))
{
	uint64_t give_up = pvm_now_ns() + GIVE_UP_NS;
	char path[128];
	json_object *g;

	snprintf(path, sizeof(path), "/v1/guests/%s", id);
	for (g = call("GET", path, NULL, 200); !done(g); g = call("GET", path, NULL, 200)) {
		ck_assert_msg(pvm_now_ns() < give_up, "guest never got there: %s",
			      json_object_to_json_string(g));
		ck_assert_str_ne(aio_str_at(g, "observed_state"), "failed");
		json_object_put(g);
		pvm_sleep_ns(200 * 1000 * 1000);
	}
	return g;
}

static bool hello_arrived(json_object *g)
{
	return *aio_str_at(g, "agent.hello.os") && aio_at(g, "agent.negotiation.kvm");
}

static int64_t report_before;

/* Running, its agent's session connected, and a report newer than
 * report_before relayed. */
static bool reports_again(json_object *g)
{
	json_object *n = aio_at(g, "agent.report.report_no");

	return strcmp(aio_str_at(g, "observed_state"), "running") == 0 &&
	       strcmp(aio_str_at(g, "agent.state"), "connected") == 0 && n &&
	       json_object_get_int64(n) != report_before;
}

/* The libvirt domain id of the test guest (changes when QEMU starts again);
 * -1 when it does not run. */
static int domid(void)
{
	char cmd[1024], line[64] = "";
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "virsh -q -c '%s' domid '%s' 2>/dev/null", lv_uri, gname);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	if (!fgets(line, sizeof(line), fp))
		line[0] = '\0';
	pclose(fp);
	return line[0] >= '0' && line[0] <= '9' ? atoi(line) : -1;
}

static bool stopped(json_object *g)
{
	return strcmp(aio_str_at(g, "observed_state"), "stopped") == 0;
}

static bool host_ready(json_object *hosts)
{
	json_object *items = aio_at(hosts, "items");

	return items && json_object_array_length(items) == 1 &&
	       strcmp(aio_str_at(json_object_array_get_idx(items, 0), "state"), "ready") == 0 &&
	       aio_at(json_object_array_get_idx(items, 0), "capabilities.linux_accel");
}

static bool has_string(json_object *arr, const char *s)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0)
			return true;
	return false;
}

static int pvmctl(const char *args, char *out, size_t len)
{
	char cmd[1024];
	size_t n;
	FILE *fp;
	int st;

	setenv("PVM_ADDR", aio.base, 1);
	setenv("PVM_TOKEN", aio.token, 1);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", PVMCTL_BIN, args);
	fp = popen(cmd, "r");
	ck_assert_ptr_nonnull(fp);
	n = fread(out, 1, len - 1, fp);
	out[n] = '\0';
	st = pclose(fp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool cpu_virt(void)
{
	return system("grep -qwE 'vmx|svm' /proc/cpuinfo") == 0;
}

START_TEST(linux_guest_through_the_api)
{
	char body[PATH_MAX + 256], args[128], out[8192], clock[40], boot[48];
	const char *const pvmd_args[] = {"--libvirt-uri", lv_uri, "--report-interval-ms", "500",
					 NULL};
	uint64_t give_up = pvm_now_ns() + GIVE_UP_NS;
	json_object *o, *h, *g;
	const char *id;
	int dom;

	ck_assert_int_eq(
	    aio_start(&aio, PVMD_BIN, PVM_VMM, PVM_GUEST_DIR, "/tmp/pvm-lx-rest-", pvmd_args), 0);
	/* QEMU runs as libvirt-qemu and reaches the guest's folder under it. */
	ck_assert_int_eq(chmod(aio.dir, 0755), 0);
	for (o = call("GET", "/v1/hosts", NULL, 200); !host_ready(o);
	     o = call("GET", "/v1/hosts", NULL, 200)) {
		ck_assert_msg(pvm_now_ns() < give_up, "host never ready: %s",
			      json_object_to_json_string(o));
		json_object_put(o);
		pvm_sleep_ns(100 * 1000 * 1000);
	}
	h = json_object_array_get_idx(aio_at(o, "items"), 0);
	ck_assert(has_string(aio_at(h, "capabilities.kinds"), "linux"));
	ck_assert_str_eq(aio_str_at(h, "capabilities.linux_accel"), cpu_virt() ? "kvm" : "tcg");
	json_object_put(o);

	snprintf(body, sizeof(body),
		 "{\"name\":\"debian-linux\",\"format\":\"linux\",\"source\":\"%s\"}", image);
	json_object_put(call("POST", "/v1/images", body, 201));
	/* A linux image is for linux guests only. */
	o = call("POST", "/v1/guests",
		 "{\"name\":\"not-linux\",\"image\":\"debian-linux\",\"vcpus\":1,"
		 "\"memory_mib\":64}",
		 400);
	ck_assert_str_eq(aio_str_at(o, "field"), "/image");
	json_object_put(o);

	snprintf(body, sizeof(body),
		 "{\"name\":\"%s\",\"kind\":\"linux\",\"image\":\"debian-linux\",\"vcpus\":1,"
		 "\"memory_mib\":256,\"disk_gib\":1,\"restart_policy\":\"never\"}",
		 gname);
	o = call("POST", "/v1/guests", body, 201);
	id = aio_str_at(o, "id");
	ck_assert_str_eq(aio_str_at(o, "kind"), "linux");
	g = wait_guest(id, hello_arrived);
	ck_assert_str_eq(aio_str_at(g, "observed_state"), "running");
	ck_assert_str_eq(aio_str_at(g, "agent.hello.guest_kind"), "linux");
	ck_assert_msg(strncmp(aio_str_at(g, "agent.hello.os"), "Linux 6.", 8) == 0, "%s",
		      json_object_to_json_string(g));
	snprintf(clock, sizeof(clock), "%s", aio_str_at(g, "agent.negotiation.kvm.clocksource"));
	ck_assert_str_ne(clock, "");
	ck_assert_ptr_nonnull(aio_at(g, "agent.negotiation.kvm.feature_names"));
	/* The agent's virtio-serial port and the scratch disk, as the kernel sees them. */
	ck_assert_msg(has_string(aio_at(g, "agent.negotiation.virtio_devices"), "console") &&
			  has_string(aio_at(g, "agent.negotiation.virtio_devices"), "block"),
		      "%s", json_object_to_json_string(aio_at(g, "agent.negotiation")));
	if (!cpu_virt()) {
		/* TCG: no KVM leaves, no pv feature, no kvm-clock (the kernel takes
		 * the TSC, or the HPET when the TSC looks unstable under load). */
		ck_assert_int_eq(json_object_array_length(aio_at(g, "agent.negotiation.kvm."
								    "feature_names")),
				 0);
		ck_assert_str_ne(clock, "kvm-clock");
	}
	json_object_put(g);

	/* pvmd SIGKILLed and started again, as systemd would: it finds the
	 * running domain and relays its agent again; the same QEMU and the
	 * same boot, never a second start. */
	g = wait_guest(id, hello_arrived);
	snprintf(boot, sizeof(boot), "%s", aio_str_at(g, "agent.hello.boot_id"));
	report_before = json_object_get_int64(aio_at(g, "agent.report.report_no"));
	json_object_put(g);
	/* The host holds the agent's session: its reports keep coming. */
	g = wait_guest(id, reports_again);
	report_before = json_object_get_int64(aio_at(g, "agent.report.report_no"));
	json_object_put(g);
	dom = domid();
	ck_assert_int_ge(dom, 0);
	aio_kill(&aio);
	ck_assert_int_eq(aio_restart(&aio, PVMD_BIN, PVM_VMM, PVM_GUEST_DIR, pvmd_args), 0);
	g = wait_guest(id, reports_again);
	ck_assert_str_eq(aio_str_at(g, "agent.hello.boot_id"), boot);
	ck_assert_int_eq(domid(), dom);
	json_object_put(g);

	snprintf(args, sizeof(args), "guest show %s", gname);
	ck_assert_msg(pvmctl(args, out, sizeof(out)) == 0, "%s", out);
	ck_assert_msg(strstr(out, "on Linux 6."), "%s", out);
	ck_assert_msg(strstr(out, "Clocksource") && strstr(out, clock), "%s", out);
	ck_assert_msg(strstr(out, "KVM pv features"), "%s", out);
	ck_assert_msg(strstr(out, "Virtio devices") && strstr(out, "console"), "%s", out);
	if (!cpu_virt())
		ck_assert_msg(strstr(out, "none"), "%s", out);

	snprintf(args, sizeof(args), "guest stop %s", gname);
	ck_assert_msg(pvmctl(args, out, sizeof(out)) == 0, "%s", out);
	g = wait_guest(id, stopped);
	json_object_put(g);
	json_object_put(o);
	ck_assert_int_eq(aio_stop(&aio), 0);
}
END_TEST

int main(void)
{
	char rm[128];
	int failed;
	Suite *s;
	SRunner *sr;

	if (!lv_fixture(lv_uri, sizeof(lv_uri), image, sizeof(image)))
		return 77;
	/* lv-server's stop removes any pvm-test-* domain a failed run left. */
	snprintf(gname, sizeof(gname), "pvm-test-rest-%d", (int)getpid());

	s = suite_create("linux_rest");
	TCase *tc = tcase_create("rest");
	tcase_add_test(tc, linux_guest_through_the_api);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* No fork: pvmd is this process's child, stopped here after a failure. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	aio_kill(&aio);
	if (aio.dir[0]) {
		snprintf(rm, sizeof(rm), "rm -rf '%s'", aio.dir);
		if (system(rm) != 0)
			failed++;
	}
	return failed ? 1 : 0;
}
