/* SPDX-License-Identifier: MIT */
/* Endpoint, token and CA precedence: flags > PVM_* > config file > default. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

static char dir[] = "/tmp/pvm-cli-settings-XXXXXX";
static char xdg_env[300], home_env[300];

static void setup(void)
{
	char path[256];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(xdg_env, sizeof(xdg_env), "XDG_CONFIG_HOME=%s/xdg", dir);
	snprintf(home_env, sizeof(home_env), "HOME=%s/home", dir);
	snprintf(path, sizeof(path), "%s/xdg", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/xdg/pvm", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/home", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/home/.config", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/home/.config/pvm", dir);
	mkdir(path, 0700);
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/pvm-cli-settings-XXXXXX");
}

static void write_file(const char *rel, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

START_TEST(default_without_file_or_env)
{
	char *envp[] = {home_env, NULL};
	struct cli_flags f = {0};
	struct cli_settings s;
	struct pvm_err err = {0};

	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_str_eq(s.addr, CLI_DEFAULT_ADDR);
	ck_assert_ptr_null(s.token);
	ck_assert_ptr_null(s.cacert);
	ck_assert_int_eq(s.addr_src, PVM_CONFIG_DEFAULT);
	cli_settings_free(&s);
}
END_TEST

START_TEST(file_then_env_then_flag)
{
	char *envp[] = {xdg_env, "PVM_TOKEN=envtok", "PVM_CACERT=/env/ca.pem", NULL};
	struct cli_flags f = {.cacert = "/flag/ca.pem"};
	struct cli_settings s;
	struct pvm_err err = {0};

	write_file("xdg/pvm/config",
		   "addr = https://file.example:7070/\ntoken = filetok\ncacert = /file/ca.pem\n");
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	/* the file supplies addr, env beats the file's token, the flag beats env's CA */
	ck_assert_str_eq(s.addr, "https://file.example:7070");
	ck_assert_int_eq(s.addr_src, PVM_CONFIG_FILE);
	ck_assert_str_eq(s.token, "envtok");
	ck_assert_int_eq(s.token_src, PVM_CONFIG_ENV);
	ck_assert_str_eq(s.cacert, "/flag/ca.pem");
	ck_assert_int_eq(s.cacert_src, PVM_CONFIG_FLAG);
	cli_settings_free(&s);

	f.addr = "10.1.2.3:9";
	f.token = "flagtok";
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_str_eq(s.addr, "http://10.1.2.3:9");
	ck_assert_str_eq(s.token, "flagtok");
	cli_settings_free(&s);
}
END_TEST

START_TEST(token_file_readable_by_others_warns)
{
	char *envp[] = {xdg_env, NULL};
	struct cli_flags f = {0};
	struct cli_settings s;
	struct pvm_err err = {0};
	char path[256];

	write_file("xdg/pvm/config", "token = secret\n");
	snprintf(path, sizeof(path), "%s/xdg/pvm/config", dir);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_ptr_nonnull(strstr(s.warning, "chmod 600"));
	ck_assert_ptr_nonnull(strstr(s.warning, path));
	cli_settings_free(&s);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_str_eq(s.warning, "");
	cli_settings_free(&s);
	/* no token in the file: nothing to protect */
	write_file("xdg/pvm/config", "addr = h:1\n");
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_str_eq(s.warning, "");
	cli_settings_free(&s);
}
END_TEST

START_TEST(home_when_no_xdg)
{
	char *envp[] = {home_env, NULL};
	struct cli_flags f = {0};
	struct cli_settings s;
	struct pvm_err err = {0};
	char *p = cli_config_path(envp);

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(strstr(p, "/home/.config/pvm/config"));
	free(p);
	write_file("home/.config/pvm/config", "token = hometok\n");
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_str_eq(s.token, "hometok");
	cli_settings_free(&s);
}
END_TEST

START_TEST(xdg_beats_home_relative_xdg_ignored)
{
	char *both[] = {xdg_env, home_env, NULL};
	char *relative[] = {"XDG_CONFIG_HOME=rel/dir", home_env, NULL};
	char *none[] = {"PATH=/bin", NULL};
	char *p;

	p = cli_config_path(both);
	ck_assert_ptr_nonnull(strstr(p, "/xdg/pvm/config"));
	free(p);
	p = cli_config_path(relative);
	ck_assert_ptr_nonnull(strstr(p, "/home/.config/pvm/config"));
	free(p);
	ck_assert_ptr_null(cli_config_path(none));
}
END_TEST

START_TEST(explicit_config_must_exist)
{
	char *envp[] = {NULL};
	struct cli_flags f = {.config = "/nonexistent/pvm.conf"};
	struct cli_settings s;
	struct pvm_err err = {0};

	ck_assert_int_lt(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/pvm.conf"));
	ck_assert_ptr_null(s.addr);
}
END_TEST

START_TEST(bad_file_is_an_error_naming_it)
{
	char *envp[] = {xdg_env, NULL};
	struct cli_flags f = {0};
	struct cli_settings s;
	struct pvm_err err = {0};

	write_file("xdg/pvm/config", "addr = 127.0.0.1:1\ncolour = yes\n");
	ck_assert_int_lt(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "config"));
	ck_assert_ptr_nonnull(strstr(err.msg, "colour"));
}
END_TEST

START_TEST(addresses_normalised_or_refused)
{
	char *envp[] = {NULL};
	struct cli_flags f = {0};
	struct cli_settings s;
	struct pvm_err err = {0};

	f.addr = "https://ctl.example:7070///";
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_str_eq(s.addr, "https://ctl.example:7070");
	cli_settings_free(&s);
	f.addr = "ftp://ctl.example";
	ck_assert_int_lt(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "http"));
	f.addr = "";
	ck_assert_int_lt(cli_settings_resolve(&s, &f, envp, &err), 0);
}
END_TEST

/* Several controllers, comma-separated: each normalised, order kept; every
 * mistake refused with a message that says which URL and what is wrong. */
START_TEST(address_lists_parsed_or_refused)
{
	static const struct {
		const char *addr, *msg;
	} bad[] = {
	    {"http://a:1,,http://b:1", "URL 2 of the list is empty"},
	    {"http://a:1,", "URL 2 of the list is empty"},
	    {",http://a:1", "URL 1 of the list is empty"},
	    {"http://a:1,ftp://b:1", "URL 2 of the list: ftp://b:1: only http:// and https://"},
	    {"http://a:1, http://b:1", "URL 2 of the list: ' http://b:1' has a space"},
	    {"http://a :1", "'http://a :1' has a space"},
	    {"a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1", "more than 8 controller URLs"},
	    {"a:1,http://a:1/", "http://a:1 is listed twice"},
	    {"http://a:1,https://", "'https://' names no host"},
	};
	char *envp[] = {NULL, NULL};
	struct cli_flags f = {0};
	struct cli_settings s;
	struct pvm_err err = {0};

	f.addr = "https://a.example:7070/,b:7070,http://c:7070";
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_uint_eq(s.naddrs, 3);
	ck_assert_str_eq(s.addrs[0], "https://a.example:7070");
	ck_assert_str_eq(s.addrs[1], "http://b:7070");
	ck_assert_str_eq(s.addrs[2], "http://c:7070");
	ck_assert_str_eq(s.addr, "https://a.example:7070,http://b:7070,http://c:7070");
	cli_settings_free(&s);
	f.addr = "a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1";
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_uint_eq(s.naddrs, CLI_MAX_ADDRS);
	cli_settings_free(&s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.addr = bad[i].addr;
		pvm_err_clear(&err);
		ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), -EINVAL);
		ck_assert_msg(strstr(err.msg, bad[i].msg), "%s: '%s', wanted '%s'", bad[i].addr,
			      err.msg, bad[i].msg);
		ck_assert_str_eq(err.field, "addr");
		ck_assert_ptr_null(s.addr);
		ck_assert_uint_eq(s.naddrs, 0);
	}
	/* the file's addr key takes a list too */
	write_file("xdg/pvm/config", "addr = http://a:1,http://b:1\n");
	f.addr = NULL;
	envp[0] = xdg_env;
	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_uint_eq(s.naddrs, 2);
	ck_assert_str_eq(s.addrs[1], "http://b:1");
	cli_settings_free(&s);
}
END_TEST

START_TEST(other_pvm_variables_ignored)
{
	char *envp[] = {"PVM_LOG_LEVEL=debug", "PVM_ADDR=h:1", NULL};
	struct cli_flags f = {0};
	struct cli_settings s;
	struct pvm_err err = {0};

	ck_assert_int_eq(cli_settings_resolve(&s, &f, envp, &err), 0);
	ck_assert_str_eq(s.addr, "http://h:1");
	cli_settings_free(&s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_settings");
	TCase *tc = tcase_create("precedence");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, default_without_file_or_env);
	tcase_add_test(tc, file_then_env_then_flag);
	tcase_add_test(tc, home_when_no_xdg);
	tcase_add_test(tc, token_file_readable_by_others_warns);
	tcase_add_test(tc, xdg_beats_home_relative_xdg_ignored);
	tcase_add_test(tc, explicit_config_must_exist);
	tcase_add_test(tc, bad_file_is_an_error_naming_it);
	tcase_add_test(tc, addresses_normalised_or_refused);
	tcase_add_test(tc, address_lists_parsed_or_refused);
	tcase_add_test(tc, other_pvm_variables_ignored);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
