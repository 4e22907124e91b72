/* SPDX-License-Identifier: MIT */
/* Configuration layers: default < INI file < PVM_* environment < flags. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/common.h"

static const struct pvm_config_key keys[] = {
    {.key = "state_dir", .def = "./pvm-state", .help = "state directory"},
    {.key = "listen", .def = "127.0.0.1:7070", .help = "address to listen on"},
    {.key = "log.level", .def = "info", .help = "error|warn|info|debug"},
    {.key = "log.format", .def = "text", .help = "text|json|journal"},
    {.key = "api.body_limit", .def = "1048576", .help = "request body limit in bytes"},
    {.key = "stop_guests_on_exit", .def = "false", .is_flag = true, .help = "stop guests"},
};

static char ini_path[] = "/tmp/pvm-test-config-XXXXXX";

static void write_ini(const char *text)
{
	int fd = mkstemp(ini_path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void load_all(struct pvm_config *cfg, const char *ini, char **env, int argc, char **argv,
		     int *nrest)
{
	struct pvm_err err = {0};

	ck_assert_int_eq(pvm_config_init(cfg, keys, PVM_ARRAY_SIZE(keys)), 0);
	if (ini) {
		write_ini(ini);
		ck_assert_msg(pvm_config_load_file(cfg, ini_path, &err) == 0, "%s", err.msg);
		unlink(ini_path);
	}
	ck_assert_msg(pvm_config_load_env(cfg, env, &err) == 0, "%s", err.msg);
	ck_assert_msg(pvm_config_load_args(cfg, argc, argv, nrest, &err) == 0, "%s", err.msg);
}

START_TEST(test_precedence)
{
	const char *ini = "state_dir = /var/lib/pvm\nlisten = 0.0.0.0:1\n"
			  "[log]\nlevel = warn\nformat = json\n[api]\nbody_limit = 2048\n";
	char *env[] = {"PVM_LISTEN=10.0.0.1:2", "PVM_LOG_LEVEL=debug", "HOME=/root", NULL};
	char *argv[] = {"run", "--log-level", "error", "guest-1", "--stop-guests-on-exit", NULL};
	struct pvm_config cfg;
	int nrest = 0;

	load_all(&cfg, ini, env, 5, argv, &nrest);
	ck_assert_str_eq(pvm_config_get(&cfg, "state_dir"), "/var/lib/pvm");
	ck_assert_int_eq(pvm_config_source_of(&cfg, "state_dir"), PVM_CONFIG_FILE);
	ck_assert_str_eq(pvm_config_get(&cfg, "listen"), "10.0.0.1:2");
	ck_assert_int_eq(pvm_config_source_of(&cfg, "listen"), PVM_CONFIG_ENV);
	ck_assert_str_eq(pvm_config_get(&cfg, "log.level"), "error");
	ck_assert_int_eq(pvm_config_source_of(&cfg, "log.level"), PVM_CONFIG_FLAG);
	ck_assert_str_eq(pvm_config_get(&cfg, "log.format"), "json");
	ck_assert_str_eq(pvm_config_get(&cfg, "api.body_limit"), "2048");
	ck_assert_str_eq(pvm_config_get(&cfg, "stop_guests_on_exit"), "true");
	ck_assert_int_eq(nrest, 2);
	ck_assert_str_eq(argv[0], "run");
	ck_assert_str_eq(argv[1], "guest-1");
	pvm_config_free(&cfg);
}
END_TEST

START_TEST(test_defaults_and_types)
{
	char *env[] = {NULL};
	char *argv[] = {"--api.body_limit=abc", NULL};
	struct pvm_config cfg;
	struct pvm_err err = {0};
	int64_t v = 0;
	bool b = true;
	int nrest;

	load_all(&cfg, NULL, env, 0, argv, &nrest);
	ck_assert_str_eq(pvm_config_get(&cfg, "listen"), "127.0.0.1:7070");
	ck_assert_int_eq(pvm_config_source_of(&cfg, "listen"), PVM_CONFIG_DEFAULT);
	ck_assert_int_eq(pvm_config_get_int(&cfg, "api.body_limit", 1, 1 << 30, &v, &err), 0);
	ck_assert_int_eq(v, 1048576);
	ck_assert_int_eq(pvm_config_get_bool(&cfg, "stop_guests_on_exit", &b, &err), 0);
	ck_assert(!b);
	ck_assert_int_eq(pvm_config_load_args(&cfg, 1, argv, &nrest, &err), 0);
	ck_assert_int_eq(pvm_config_get_int(&cfg, "api.body_limit", 1, 1 << 30, &v, &err), -EINVAL);
	ck_assert_str_eq(err.field, "api.body_limit");
	ck_assert(strstr(err.msg, "\"abc\" is not an integer"));
	pvm_config_free(&cfg);
}
END_TEST

START_TEST(test_unknown_keys)
{
	char *env[] = {"PVM_NO_SUCH=1", "PVM_LOG_LEVEL=warn", NULL};
	char *argv_bad[] = {"--no-such-flag", NULL};
	char *argv_novalue[] = {"--listen", NULL};
	struct pvm_config cfg;
	struct pvm_err err = {0};
	int nrest;

	ck_assert_int_eq(pvm_config_init(&cfg, keys, PVM_ARRAY_SIZE(keys)), 0);
	/* unknown environment variables are reported, not fatal */
	ck_assert_int_eq(pvm_config_load_env(&cfg, env, &err), 0);
	ck_assert_int_eq(cfg.nwarnings, 1);
	ck_assert(strstr(cfg.warnings[0], "PVM_no_such") || strstr(cfg.warnings[0], "no_such"));
	ck_assert_str_eq(pvm_config_get(&cfg, "log.level"), "warn");
	/* unknown flags are errors */
	ck_assert_int_eq(pvm_config_load_args(&cfg, 1, argv_bad, &nrest, &err), -EINVAL);
	ck_assert(strstr(err.msg, "unknown flag --no-such-flag"));
	ck_assert_int_eq(pvm_config_load_args(&cfg, 1, argv_novalue, &nrest, &err), -EINVAL);
	ck_assert(strstr(err.msg, "needs a value"));
	/* unknown INI keys and sections are errors naming the line */
	write_ini("listen = x\n[log]\nlevel = info\ncolour = red\n");
	ck_assert_int_eq(pvm_config_load_file(&cfg, ini_path, &err), -ENOENT);
	ck_assert_msg(strstr(err.msg, "line 4") && strstr(err.msg, "log.colour"), "%s", err.msg);
	unlink(ini_path);
	strcpy(ini_path, "/tmp/pvm-test-config-XXXXXX");
	write_ini("[nosuch]\nkey = 1\n");
	ck_assert_int_eq(pvm_config_load_file(&cfg, ini_path, &err), -ENOENT);
	ck_assert(strstr(err.msg, "nosuch.key"));
	unlink(ini_path);
	strcpy(ini_path, "/tmp/pvm-test-config-XXXXXX");
	write_ini("listen = x\nthis is not ini\n");
	ck_assert_int_eq(pvm_config_load_file(&cfg, ini_path, &err), -EINVAL);
	ck_assert(strstr(err.msg, "line 2: syntax error"));
	unlink(ini_path);
	ck_assert_int_eq(pvm_config_load_file(&cfg, "/nonexistent/pvm.ini", &err), -ENOENT);
	ck_assert(strstr(err.msg, "cannot open"));
	pvm_config_free(&cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common_config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_precedence);
	tcase_add_test(tc, test_defaults_and_types);
	tcase_add_test(tc, test_unknown_keys);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
