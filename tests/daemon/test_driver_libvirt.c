/* SPDX-License-Identifier: MIT */
/*
 * The libvirt driver's lifecycle against libvirt's real test driver
 * (test:///default: an in-process hypervisor with one foreign domain, "test").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "daemon/driver.h"

static struct pvmd_driver drv;
static struct pvm_err err;

static const struct pvmd_guest_def web = {
    .id = "0123456789abcdef0123456789abcdef",
    .name = "web-1",
    .vcpus = 2,
    .memory_mib = 256,
    .image = "/var/lib/pvm/images/console.elf",
    .disk = "/var/lib/pvm/disks/web-1.img",
    .cmdline = "mode=pv <&'\">",
};

static void setup(void)
{
	memset(&err, 0, sizeof(err));
	ck_assert_msg(pvmd_driver_open("libvirt", "test:///default", &drv, &err) == 0, "%s",
		      err.msg);
}

static void teardown(void)
{
	pvmd_driver_close(&drv);
}

static enum pvmd_guest_state state_of(const char *id)
{
	enum pvmd_guest_state st = PVMD_GUEST_UNKNOWN;

	ck_assert_msg(drv.ops->state(drv.priv, id, &st, &err) == 0, "%s", err.msg);
	return st;
}

START_TEST(test_lifecycle)
{
	struct pvmd_guest_info *infos = NULL;
	json_object *stats = NULL;
	size_t n = 0;

	ck_assert_msg(drv.ops->define(drv.priv, &web, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(state_of(web.id), PVMD_GUEST_DEFINED);
	ck_assert_int_eq(drv.ops->start(drv.priv, web.id, &err), 0);
	ck_assert_int_eq(state_of(web.id), PVMD_GUEST_RUNNING);
	/* starting a running guest is a no-op: reconciliation may repeat itself */
	ck_assert_int_eq(drv.ops->start(drv.priv, web.id, &err), 0);

	ck_assert_int_eq(drv.ops->stats(drv.priv, web.id, &stats, &err), 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(stats, "state")), "running");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(stats, "vcpus")), 2);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(stats, "max_memory_kib")),
			 256 * 1024);
	json_object_put(stats);

	/* only pvm's own domains are listed: the test driver's "test" domain is not */
	ck_assert_int_eq(drv.ops->list(drv.priv, &infos, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(infos[0].id, web.id);
	ck_assert_str_eq(infos[0].name, "web-1");
	ck_assert_int_eq(infos[0].state, PVMD_GUEST_RUNNING);
	free(infos);

	ck_assert_int_eq(drv.ops->undefine(drv.priv, web.id, &err), -EBUSY);
	ck_assert_int_eq(drv.ops->stop(drv.priv, web.id, 2000, &err), 0);
	ck_assert_int_ne(state_of(web.id), PVMD_GUEST_RUNNING);
	ck_assert_int_eq(drv.ops->undefine(drv.priv, web.id, &err), 0);
	ck_assert_int_eq(drv.ops->state(drv.priv, web.id, &(enum pvmd_guest_state){0}, &err),
			 -ENOENT);
	ck_assert(strstr(err.msg, web.id));
}
END_TEST

START_TEST(test_bad_requests)
{
	struct pvmd_guest_def bad = web;
	struct pvmd_driver other;

	ck_assert_int_eq(drv.ops->define(drv.priv, &web, &err), 0);
	ck_assert_int_eq(drv.ops->define(drv.priv, &web, &err), -EEXIST);
	bad.id = "another";
	bad.name = "web 1; rm -rf /";
	ck_assert_int_eq(drv.ops->define(drv.priv, &bad, &err), -EINVAL);
	ck_assert_str_eq(err.field, "/name");
	bad.name = "web-2";
	bad.memory_mib = 0;
	ck_assert_int_eq(drv.ops->define(drv.priv, &bad, &err), -EINVAL);
	ck_assert_int_eq(drv.ops->start(drv.priv, "no-such-guest", &err), -ENOENT);
	ck_assert_int_eq(drv.ops->stop(drv.priv, "no-such-guest", 10, &err), -ENOENT);
	ck_assert_int_eq(drv.ops->undefine(drv.priv, "no-such-guest", &err), -ENOENT);
	ck_assert_int_eq(pvmd_driver_open("xen", NULL, &other, &err), -ENOENT);
	ck_assert(strstr(err.msg, "unknown driver"));
	ck_assert_int_lt(pvmd_driver_open("libvirt", "bogus:///nowhere", &other, &err), 0);
	ck_assert(strstr(err.msg, "libvirt: cannot connect"));
}
END_TEST

START_TEST(test_names)
{
	ck_assert_int_eq(pvmd_guest_name_check("db.primary_2-a", &err), 0);
	ck_assert_int_eq(pvmd_guest_name_check("", &err), -EINVAL);
	ck_assert_int_eq(pvmd_guest_name_check("a/b", &err), -EINVAL);
	ck_assert_int_eq(
	    pvmd_guest_name_check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				  "aaaaa",
				  &err),
	    -EINVAL);
	ck_assert_str_eq(pvmd_guest_state_name(PVMD_GUEST_CRASHED), "crashed");
	ck_assert_str_eq(pvmd_guest_state_name((enum pvmd_guest_state)99), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon_driver_libvirt");
	TCase *tc = tcase_create("libvirt");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lifecycle);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
