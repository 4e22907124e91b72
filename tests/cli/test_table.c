/* SPDX-License-Identifier: MIT */
/* Aligned tables, and colour only on a terminal without NO_COLOR. */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static char *render(const struct cli_table *t, bool color)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(fp);
	cli_table_print(t, fp, color);
	fclose(fp);
	return out;
}

static struct cli_table *sample(void)
{
	const char *h[] = {"NAME", "STATE", "HOST"};
	const char *r1[] = {"web-1", "running", "h1"};
	const char *r2[] = {"db", "failed", NULL};
	const char *r3[] = {"caché", "pending", "a\tb\nc"};
	struct cli_table *t = cli_table_new(3, h);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(cli_table_add(t, r1), 0);
	ck_assert_int_eq(cli_table_add(t, r2), 0);
	ck_assert_int_eq(cli_table_add(t, r3), 0);
	return t;
}

START_TEST(columns_aligned_plain)
{
	struct cli_table *t = sample();
	char *out = render(t, false);

	ck_assert_str_eq(out, "NAME   STATE    HOST\n"
			      "web-1  running  h1\n"
			      "db     failed   -\n"
			      "caché  pending  a b c\n");
	ck_assert_ptr_null(strchr(out, '\033'));
	free(out);
	cli_table_free(t);
}
END_TEST

START_TEST(colour_marks_header_and_states)
{
	struct cli_table *t = sample();
	char *out = render(t, true);

	ck_assert_ptr_nonnull(strstr(out, "\033[1mNAME\033[0m"));
	ck_assert_ptr_nonnull(strstr(out, "\033[32mrunning\033[0m"));
	ck_assert_ptr_nonnull(strstr(out, "\033[31mfailed\033[0m"));
	ck_assert_ptr_nonnull(strstr(out, "\033[33mpending\033[0m"));
	/* padding is computed on the text, not the escapes */
	ck_assert_ptr_nonnull(strstr(out, "web-1  \033[32mrunning\033[0m  h1\n"));
	free(out);
	cli_table_free(t);

	/* booleans are not states: no colour */
	{
		const char *h[] = {"CORDONED"}, *r[] = {"false"};

		t = cli_table_new(1, h);
		ck_assert_int_eq(cli_table_add(t, r), 0);
		out = render(t, true);
		ck_assert_str_eq(out, "\033[1mCORDONED\033[0m\nfalse\n");
	}
	free(out);
	cli_table_free(t);
}
END_TEST

START_TEST(empty_table_is_the_header)
{
	const char *h[] = {"ID", "NAME"};
	struct cli_table *t = cli_table_new(2, h);
	char *out = render(t, false);

	ck_assert_str_eq(out, "ID  NAME\n");
	free(out);
	cli_table_free(t);
}
END_TEST

START_TEST(colour_needs_a_terminal_and_no_NO_COLOR)
{
	char *plain[] = {"TERM=xterm", NULL};
	char *nocolor[] = {"NO_COLOR=1", NULL};
	char *empty_nocolor[] = {"NO_COLOR=", NULL};
	int pipefd[2], pty;

	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert(!cli_want_color(pipefd[1], plain, false));
	close(pipefd[0]);
	close(pipefd[1]);

	pty = posix_openpt(O_RDWR | O_NOCTTY);
	ck_assert_int_ge(pty, 0);
	ck_assert(cli_want_color(pty, plain, false));
	ck_assert(!cli_want_color(pty, nocolor, false));
	/* no-color.org: only a non-empty NO_COLOR disables colour */
	ck_assert(cli_want_color(pty, empty_nocolor, false));
	ck_assert(!cli_want_color(pty, plain, true));
	close(pty);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_table");
	TCase *tc = tcase_create("table");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, columns_aligned_plain);
	tcase_add_test(tc, colour_marks_header_and_states);
	tcase_add_test(tc, empty_table_is_the_header);
	tcase_add_test(tc, colour_needs_a_terminal_and_no_NO_COLOR);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
