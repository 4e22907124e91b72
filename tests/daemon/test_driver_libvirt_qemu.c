/* SPDX-License-Identifier: MIT */
/*
 * The libvirt driver on a real libvirtd with QEMU (the lv fixture,
 * tests/libvirt/lv-server) booting the Linux guest image build-linux made
 * (the linux_image fixture): a persistent domain with direct kernel boot,
 * the agent's hello over its virtio-serial socket, a stop through the agent,
 * a stop through ACPI, and the console log. Skips with one line where the
 * fixtures could not run (not root, no libvirtd or QEMU, no Debian mirror).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <libvirt/libvirt.h>

#include "common/common.h"
#include "daemon/driver.h"
#include "tests/daemon/lv_fixture.h"

#define GIVE_UP_NS (240 * 1000000000ull) /* hang guard only, not a timing check */

static char uri[512], image[PATH_MAX], state[64];
static struct pvmd_driver drv;
static struct pvm_err err;

static struct pvmd_guest_def lx = {
    .id = "5c1e0d3a9b8f4e2d8c7b6a5f4e3d2c1b",
    .vcpus = 1,
    .memory_mib = 256,
    .disk_gib = 1,
    .cmdline = "quiet",
};

static enum pvmd_guest_state state_of(void)
{
	enum pvmd_guest_state st = PVMD_GUEST_UNKNOWN;

	ck_assert_msg(drv.ops->state(drv.priv, lx.id, &st, &err) == 0, "%s", err.msg);
	return st;
}

static const char *str_at(json_object *o, const char *a, const char *b)
{
	json_object *x = NULL, *y = NULL;

	if (!json_object_object_get_ex(o, a, &x) || !json_object_object_get_ex(x, b, &y))
		return "";
	return json_object_get_string(y);
}

static int64_t int_at(json_object *o, const char *a, const char *b)
{
	json_object *x = NULL, *y = NULL;

	if (!json_object_object_get_ex(o, a, &x) || !json_object_object_get_ex(x, b, &y))
		return -1;
	return json_object_get_int64(y);
}

/* Asks the agent until it answers; returns its session document. */
static json_object *wait_for_agent(void)
{
	uint64_t give_up = pvm_now_ns() + GIVE_UP_NS;
	json_object *doc = NULL;

	while (drv.ops->agent(drv.priv, lx.id, &doc, &err) < 0) {
		ck_assert_msg(pvm_now_ns() < give_up, "no agent: %s", err.msg);
		ck_assert_int_eq(state_of(), PVMD_GUEST_RUNNING);
		memset(&err, 0, sizeof(err));
		pvm_sleep_ns(200000000);
	}
	return doc;
}

/* The domain XML as libvirt stores it. */
static char *domain_xml(void)
{
	virConnectPtr c = virConnectOpen(uri);
	virDomainPtr d;
	char *xml;

	ck_assert_ptr_nonnull(c);
	d = virDomainLookupByName(c, lx.name);
	ck_assert_ptr_nonnull(d);
	xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
	virDomainFree(d);
	virConnectClose(c);
	ck_assert_ptr_nonnull(xml);
	return xml;
}

static bool cpu_virt(void)
{
	return system("grep -qwE 'vmx|svm' /proc/cpuinfo") == 0;
}

START_TEST(linux_guest_boots_and_stops)
{
	char log[PATH_MAX + 64], cmd[PATH_MAX + 160], *xml;
	json_object *doc;
	int64_t frames;
	FILE *f;

	ck_assert_msg(drv.ops->define(drv.priv, &lx, &err) == 0, "%s", err.msg);
	xml = domain_xml();
	if (!cpu_virt())
		ck_assert_msg(strstr(xml, "<domain type='qemu'"), "%s", xml);
	ck_assert_ptr_nonnull(strstr(xml, "<acpi/>"));
	ck_assert_ptr_nonnull(strstr(xml, "/vmlinuz</kernel>"));
	ck_assert_ptr_nonnull(strstr(xml, "/initrd</initrd>"));
	ck_assert_ptr_nonnull(strstr(xml, "name='org.pvm.agent.0'"));
	ck_assert_ptr_nonnull(strstr(xml, "scratch.img"));
	free(xml);

	/* Stop through the agent: it powers the guest off. */
	ck_assert_msg(drv.ops->start(drv.priv, lx.id, &err) == 0, "%s", err.msg);
	doc = wait_for_agent();
	ck_assert_str_eq(str_at(doc, "hello", "guest_kind"), "linux");
	ck_assert_msg(strncmp(str_at(doc, "hello", "os"), "Linux 6.", 8) == 0, "%s",
		      json_object_to_json_string(doc));
	frames = int_at(doc, "counters", "frames");
	json_object_put(doc);
	/* The driver's relay holds the one session while the guest runs: a
	 * later call sees it further on, not a new one. */
	pvm_sleep_ns(1500 * 1000000ull);
	doc = wait_for_agent();
	ck_assert_int_ge(int_at(doc, "hello", "age_ms"), 1500);
	ck_assert_int_gt(int_at(doc, "counters", "frames"), frames);
	ck_assert_int_eq(int_at(doc, "counters", "syncs_answered"), 1);
	json_object_put(doc);
	ck_assert_msg(drv.ops->stop(drv.priv, lx.id, 60000, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_of(), PVMD_GUEST_STOPPED);

	/* Stop through ACPI: the agent's port is not reached first. */
	ck_assert_msg(drv.ops->start(drv.priv, lx.id, &err) == 0, "%s", err.msg);
	doc = wait_for_agent();
	json_object_put(doc);
	{
		virConnectPtr c = virConnectOpen(uri);
		virDomainPtr d = virDomainLookupByName(c, lx.name);
		uint64_t give_up = pvm_now_ns() + GIVE_UP_NS;

		ck_assert_int_eq(virDomainShutdown(d), 0);
		while (virDomainIsActive(d) == 1) {
			ck_assert_msg(pvm_now_ns() < give_up, "ACPI shutdown ignored");
			pvm_sleep_ns(100000000);
		}
		virDomainFree(d);
		virConnectClose(c);
	}
	ck_assert_int_eq(state_of(), PVMD_GUEST_STOPPED);

	snprintf(log, sizeof(log), "%s/libvirt/%s/console.log", state, lx.id);
	f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "grep -q 'pvm-init: pvm-agent on' '%s'", log);
	ck_assert_msg(system(cmd) == 0, "no init line in %s", log);
	ck_assert_msg(drv.ops->undefine(drv.priv, lx.id, &err) == 0, "%s", err.msg);
}
END_TEST

int main(void)
{
	char name[64], rm[128];
	int failed;
	Suite *s;
	SRunner *sr;

	if (!lv_fixture(uri, sizeof(uri), image, sizeof(image)))
		return 77;
	lx.image = image;
	snprintf(name, sizeof(name), "pvm-test-linux-%d", (int)getpid());
	lx.name = name;
	strcpy(state, "/tmp/pvm-lv-qemu-XXXXXX");
	if (!mkdtemp(state) || chmod(state, 0755) < 0) {
		perror("mkdtemp");
		return 1;
	}
	lx.state_dir = state;
	if (pvmd_driver_open("libvirt", uri, &drv, &err) < 0) {
		fprintf(stderr, "open %s: %s\n", uri, err.msg);
		return 1;
	}

	s = suite_create("driver_libvirt_qemu");
	TCase *tc = tcase_create("qemu");
	tcase_add_test(tc, linux_guest_boots_and_stops);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* No fork: the driver's connection is opened once, above. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	pvmd_driver_close(&drv);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", state);
	if (system(rm) != 0)
		failed++;
	return failed ? 1 : 0;
}
