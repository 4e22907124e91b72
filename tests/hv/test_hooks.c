// SPDX-License-Identifier: MIT
/* --hooks parsing and hook names: the exact lowercase names other modules rely on. */
#include <check.h>
#include <stdlib.h>

#include <string.h>

#include "hv/vm.h"

START_TEST(names_are_abi_v1)
{
	ck_assert_str_eq(pv_hook_name(0), "console");
	ck_assert_str_eq(pv_hook_name(1), "block");
	ck_assert_str_eq(pv_hook_name(2), "clock");
	ck_assert_str_eq(pv_hook_name(3), "agent");
	ck_assert_str_eq(pv_hook_name(4), "halt");
	ck_assert_ptr_null(pv_hook_name(5));
	ck_assert_uint_eq(PV_F_ALL_V1, 0x1f);
	ck_assert_int_eq(PV_HOOK_COUNT, 5);
	ck_assert_int_eq(PV_HOOK_MEMREPORT, 5);
	ck_assert_str_eq(PV_HOOK_NAMES, "console, block, clock, agent, halt");
	/* and back, by length: a prefix or a longer word is no name */
	ck_assert_int_eq(pv_hook_bit("halt", 4), PV_HOOK_HALT);
	ck_assert_int_eq(pv_hook_bit("console,block", 7), PV_HOOK_CONSOLE);
	ck_assert_int_eq(pv_hook_bit("con", 3), -1);
	ck_assert_int_eq(pv_hook_bit("consoles", 8), -1);
	ck_assert_int_eq(pv_hook_bit("memreport", 9), -1);
	ck_assert_int_eq(pv_hook_bit("", 0), -1);
}
END_TEST

START_TEST(parse_lists)
{
	struct pvm_err err = {0};
	uint64_t m = 99;

	ck_assert_int_eq(hv_hooks_parse("none", &m, &err), 0);
	ck_assert_uint_eq(m, 0);
	ck_assert_int_eq(hv_hooks_parse("all", &m, &err), 0);
	ck_assert_uint_eq(m, PV_F_ALL_V1);
	ck_assert_int_eq(hv_hooks_parse("console,block", &m, &err), 0);
	ck_assert_uint_eq(m, 3);
	ck_assert_int_eq(hv_hooks_parse("halt,agent,clock", &m, &err), 0);
	ck_assert_uint_eq(m, 0x1c);
}
END_TEST

START_TEST(parse_rejects)
{
	static const char *const bad[] = {"",	    "Console",	      "console,", "console,,block",
					  "memory", "console, block", "nonee"};
	struct pvm_err err = {0};
	uint64_t m = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(hv_hooks_parse(bad[i], &m, &err) < 0, "accepted '%s'", bad[i]);
		ck_assert_uint_eq(m, 42);
		ck_assert_str_ne(err.msg, "");
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hv_hooks");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, names_are_abi_v1);
	tcase_add_test(tc, parse_lists);
	tcase_add_test(tc, parse_rejects);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
