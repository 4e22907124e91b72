/* SPDX-License-Identifier: MIT */
/* problem+json answers become one stderr line and the documented exit code. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

START_TEST(status_to_exit_code)
{
	static const struct {
		long status;
		const char *type;
		int code;
	} cases[] = {
	    {200, NULL, CLI_EXIT_OK},
	    {201, NULL, CLI_EXIT_OK},
	    {204, NULL, CLI_EXIT_OK},
	    {400, "https://pvm.dev/problems/invalid-field", CLI_EXIT_USAGE},
	    {413, NULL, CLI_EXIT_USAGE},
	    {415, NULL, CLI_EXIT_USAGE},
	    {422, "https://pvm.dev/problems/idempotency-key-reused", CLI_EXIT_USAGE},
	    {401, "https://pvm.dev/problems/unauthorized", CLI_EXIT_AUTH},
	    {403, NULL, CLI_EXIT_AUTH},
	    {404, NULL, CLI_EXIT_NOT_FOUND},
	    {405, NULL, CLI_EXIT_SERVER},
	    {409, NULL, CLI_EXIT_CONFLICT},
	    {412, NULL, CLI_EXIT_CONFLICT},
	    {409, "https://pvm.dev/problems/no-host", CLI_EXIT_NO_HOST},
	    {503, "no-host", CLI_EXIT_NO_HOST},
	    {500, NULL, CLI_EXIT_SERVER},
	    {502, NULL, CLI_EXIT_SERVER},
	    {503, "https://pvm.dev/problems/unavailable", CLI_EXIT_SERVER},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(cli_exit_for_status(cases[i].status, cases[i].type) == cases[i].code,
			      "status %ld type %s", cases[i].status,
			      cases[i].type ? cases[i].type : "-");
}
END_TEST

static int describe(long status, const char *body, char *out, size_t len)
{
	struct pvm_buf b;
	int code;

	pvm_buf_init(&b);
	code = cli_problem_describe(status, body, body ? strlen(body) : 0, &b);
	snprintf(out, len, "%s", b.data ? b.data : "");
	pvm_buf_free(&b);
	return code;
}

START_TEST(full_problem_one_line)
{
	char line[512];
	int code = describe(400,
			    "{\"type\":\"https://pvm.dev/problems/invalid-field\",\"title\":"
			    "\"Invalid field\",\"status\":400,\"detail\":\"vcpus must be at most "
			    "256\",\"field\":\"/vcpus\"}",
			    line, sizeof(line));

	ck_assert_int_eq(code, CLI_EXIT_USAGE);
	ck_assert_str_eq(line,
			 "Invalid field: vcpus must be at most 256 (field /vcpus) [HTTP 400]");
}
END_TEST

START_TEST(no_host_problem)
{
	char line[512];
	int code =
	    describe(409,
		     "{\"type\":\"https://pvm.dev/problems/no-host\",\"title\":\"No host can "
		     "take the guest\",\"detail\":\"capacity: 0 of 3 hosts\"}",
		     line, sizeof(line));

	ck_assert_int_eq(code, CLI_EXIT_NO_HOST);
	ck_assert_str_eq(line, "No host can take the guest: capacity: 0 of 3 hosts [HTTP 409]");
}
END_TEST

START_TEST(title_only_and_detail_equal_to_title)
{
	char line[512];

	describe(404, "{\"title\":\"Not found\"}", line, sizeof(line));
	ck_assert_str_eq(line, "Not found [HTTP 404]");
	describe(404, "{\"title\":\"Not found\",\"detail\":\"Not found\",\"field\":\"\"}", line,
		 sizeof(line));
	ck_assert_str_eq(line, "Not found [HTTP 404]");
}
END_TEST

START_TEST(not_a_problem_document)
{
	char line[512];

	ck_assert_int_eq(describe(502, "<html>Bad Gateway</html>\r\n", line, sizeof(line)),
			 CLI_EXIT_SERVER);
	ck_assert_str_eq(line, "HTTP 502: <html>Bad Gateway</html>");
	ck_assert_int_eq(describe(401, NULL, line, sizeof(line)), CLI_EXIT_AUTH);
	ck_assert_str_eq(line, "HTTP 401");
	/* JSON, but not a problem: shown raw */
	describe(500, "[1,2]", line, sizeof(line));
	ck_assert_str_eq(line, "HTTP 500: [1,2]");
}
END_TEST

START_TEST(control_characters_cannot_break_the_line)
{
	char line[512];

	describe(400, "{\"title\":\"Bad\\nthing\",\"detail\":\"a\\u001b[31mb\"}", line,
		 sizeof(line));
	ck_assert_ptr_null(strchr(line, '\n'));
	ck_assert_ptr_null(strchr(line, '\033'));
	ck_assert_str_eq(line, "Bad thing: a [31mb [HTTP 400]");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_problem");
	TCase *tc = tcase_create("problem");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, status_to_exit_code);
	tcase_add_test(tc, full_problem_one_line);
	tcase_add_test(tc, no_host_problem);
	tcase_add_test(tc, title_only_and_detail_equal_to_title);
	tcase_add_test(tc, not_a_problem_document);
	tcase_add_test(tc, control_characters_cannot_break_the_line);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
