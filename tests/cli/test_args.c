/* SPDX-License-Identifier: MIT */
/*
 * The command line without a server: --help everywhere, usage errors exit 2
 * with one clear line, and a closed loopback port is "unreachable" (6).
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"

static char out[65536], err[65536];

/* Runs cli_main with stdout and stderr captured into out and err. */
static int run(char *const *envp, ...)
{
	char *argv[64];
	int argc = 0, code, so, se;
	FILE *fo = tmpfile(), *fe = tmpfile();
	size_t n;
	va_list ap;

	va_start(ap, envp);
	argv[argc++] = "pvmctl";
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	ck_assert_ptr_nonnull(fo);
	ck_assert_ptr_nonnull(fe);
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	dup2(fileno(fo), 1);
	dup2(fileno(fe), 2);
	code = cli_main(argc, argv, envp);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	rewind(fo);
	rewind(fe);
	n = fread(out, 1, sizeof(out) - 1, fo);
	out[n] = '\0';
	n = fread(err, 1, sizeof(err) - 1, fe);
	err[n] = '\0';
	fclose(fo);
	fclose(fe);
	return code;
}

static char *noenv[] = {"HOME=/nonexistent", NULL};

START_TEST(help_everywhere)
{
	static const char *const cmds[][3] = {
	    {"--help"},
	    {"host", "--help"},
	    {"host", "list", "-h"},
	    {"host", "show", "--help"},
	    {"host", "cordon", "--help"},
	    {"host", "uncordon", "--help"},
	    {"host", "drain", "--help"},
	    {"host", "rm", "--help"},
	    {"guest", "--help"},
	    {"guest", "create", "--help"},
	    {"guest", "list", "--help"},
	    {"guest", "show", "--help"},
	    {"guest", "start", "--help"},
	    {"guest", "stop", "--help"},
	    {"guest", "rm", "--help"},
	    {"guest", "stats", "--help"},
	    {"guest", "explain", "--help"},
	    {"image", "--help"},
	    {"image", "create", "--help"},
	    {"image", "list", "--help"},
	    {"image", "show", "--help"},
	    {"image", "rm", "--help"},
	    {"token", "--help"},
	    {"token", "create", "--help"},
	    {"token", "list", "--help"},
	    {"token", "revoke", "--help"},
	    {"events", "--help"},
	    {"rebalance", "--help"},
	    {"version", "--help"},
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int code = run(noenv, cmds[i][0], cmds[i][1], cmds[i][2], NULL);

		ck_assert_msg(code == 0, "%s %s: exit %d", cmds[i][0], cmds[i][1], code);
		ck_assert_msg(strncmp(out, "Usage: pvmctl", 13) == 0, "%s %s: %s", cmds[i][0],
			      cmds[i][1], out);
		ck_assert_ptr_nonnull(strstr(out, "--addr"));
		ck_assert_str_eq(err, "");
	}
	run(noenv, "guest", "create", "--help", NULL);
	ck_assert_ptr_nonnull(strstr(out, "--wait-timeout"));
	ck_assert_ptr_nonnull(strstr(out, "--require HOOK"));
	run(noenv, "--help", NULL);
	ck_assert_ptr_nonnull(strstr(out, "7 no host can take the guest"));
}
END_TEST

/* "pvmctl help [COMMAND...]" prints what "--help" does, on stdout, exit 0. */
START_TEST(help_command)
{
	static const char *const cmds[][3] = {
	    {"help"}, {"help", "guest"}, {"help", "guest", "create"}, {"help", "events"}};
	static const char *const same[][3] = {
	    {"--help"}, {"guest", "--help"}, {"guest", "create", "--help"}, {"events", "--help"}};
	static char want[sizeof(out)];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ck_assert_int_eq(run(noenv, same[i][0], same[i][1], same[i][2], NULL), 0);
		memcpy(want, out, sizeof(want));
		ck_assert_int_eq(run(noenv, cmds[i][0], cmds[i][1], cmds[i][2], NULL), 0);
		ck_assert_str_eq(out, want);
		ck_assert_str_eq(err, "");
	}
	ck_assert_int_eq(run(noenv, "help", "frobnicate", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "unknown command 'frobnicate'"));
}
END_TEST

START_TEST(usage_errors_exit_2)
{
	static const struct {
		const char *a[6];
		const char *msg;
	} cases[] = {
	    {{NULL}, "Usage: pvmctl COMMAND"},
	    {{"frobnicate"}, "unknown command 'frobnicate'"},
	    {{"guest"}, "Usage: pvmctl guest COMMAND"},
	    {{"guest", "reboot"}, "unknown command 'reboot'"},
	    {{"guest", "show"}, "missing argument: GUEST"},
	    {{"guest", "show", "a", "b"}, "unexpected argument 'b'"},
	    {{"guest", "list", "--bogus"}, "unknown option --bogus"},
	    {{"guest", "list", "-x"}, "unknown option -x"},
	    {{"host", "list", "--no-color=yes"}, "takes no value"},
	    {{"host", "list", "--addr"}, "needs a value"},
	    {{"host", "list", "-o", "yaml"}, "table, wide or json"},
	    {{"host", "list", "--timeout", "soon"}, "--timeout: 'soon' is not an integer"},
	    {{"host", "list", "--timeout", "0"}, "between 1 and"},
	    {{"host", "list", "--addr", "ftp://x"}, "only http:// and https://"},
	    {{"host", "list", "--config", "/nonexistent/c"}, "/nonexistent/c"},
	    {{"guest", "create", "--image", "x"}, "a guest needs a NAME"},
	    {{"guest", "create", "g", "--vcpus", "-1"}, "--vcpus"},
	    /* the server's bounds (common.h), checked before any request */
	    {{"guest", "create", "g", "--vcpus", "257"}, "between 1 and 256"},
	    {{"guest", "create", "g", "--memory", "4194305"}, "between 1 and 4194304"},
	    {{"guest", "create", "g", "--disk", "65537"}, "between 0 and 65536"},
	    {{"guest", "create", "g", "--memory", "lots"}, "--memory"},
	    {{"guest", "create", "g", "--label", "novalue"}, "expected KEY=VALUE"},
	    {{"guest", "create", "g", "--wait-timeout", "0"}, "--wait-timeout"},
	    {{"guest", "create", "-f", "/nonexistent/spec.json"}, "/nonexistent/spec.json"},
	    {{"token", "create", "t"}, "--role is required"},
	    {{"image", "create", "i", "--size", "-5"}, "--size"},
	    {{"events", "--since", "x"}, "--since"},
	    {{"rebalance", "--max-moves", "0"}, "--max-moves"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *a = cases[i].a;
		/* an address nothing listens on: a usage error must come first */
		int code = run(noenv, "--addr", "127.0.0.1:1", a[0], a[1], a[2], a[3], a[4], NULL);

		ck_assert_msg(code == 2, "case %zu (%s %s): exit %d, stderr %s", i, a[0], a[1],
			      code, err);
		ck_assert_msg(strstr(err, cases[i].msg), "case %zu: stderr lacks '%s': %s", i,
			      cases[i].msg, err);
	}
}
END_TEST

START_TEST(bad_spec_file)
{
	char path[] = "/tmp/pvm-cli-spec-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "{\"name\": \"x\",}", 14), 14);
	close(fd);
	ck_assert_int_eq(run(noenv, "guest", "create", "-f", path, NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, path));
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, "[1]", 3), 3);
	close(fd);
	ck_assert_int_eq(run(noenv, "guest", "create", "-f", path, NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "a spec is a JSON object"));
	unlink(path);
}
END_TEST

/* A loopback port that was just bound and closed: nothing listens there. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

START_TEST(unreachable_exit_6)
{
	static const char *const cmds[][3] = {
	    {"host", "list"},	     {"guest", "list"},
	    {"guest", "show", "g"},  {"image", "list"},
	    {"token", "list"},	     {"events"},
	    {"rebalance"},	     {"version"},
	    {"host", "cordon", "h"}, {"guest", "create", "g"},
	};
	char addr[64], env_addr[80];
	char *envp[] = {env_addr, NULL};

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port());
	snprintf(env_addr, sizeof(env_addr), "PVM_ADDR=%s", addr);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int code = run(envp, cmds[i][0], cmds[i][1], cmds[i][2], NULL);

		ck_assert_msg(code == 6, "%s %s: exit %d", cmds[i][0], cmds[i][1], code);
		ck_assert_msg(strstr(err, "cannot reach http://") && strstr(err, addr), "%s", err);
		/* one line */
		ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1);
	}
	/* version still names the client */
	run(envp, "version", NULL);
	ck_assert_ptr_nonnull(strstr(out, "client: pvmctl "));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_args");
	TCase *tc = tcase_create("args");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, help_everywhere);
	tcase_add_test(tc, help_command);
	tcase_add_test(tc, usage_errors_exit_2);
	tcase_add_test(tc, bad_spec_file);
	tcase_add_test(tc, unreachable_exit_6);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
