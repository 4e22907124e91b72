/* SPDX-License-Identifier: MIT */
/*
 * pvmd --role controller as a process: configuration from an INI file and
 * the environment, JSON logs, the bootstrap token (0600, path logged, secret
 * never), usage errors.
 */
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/api/harness.h"

static char dir[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pvm-pvmd-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

/* Runs pvmd with argv and env; stderr into log. */
static pid_t spawn(const char *const *argv, const char *env, const char *log)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		if (env)
			putenv((char *)env);
		execv(PVMD_PATH, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_lt(fread(buf, 1, (1 << 20) - 1, f), 1 << 20);
	fclose(f);
	return buf;
}

START_TEST(ini_env_json_logs_and_token)
{
	char ini[256], log[256], tokpath[256], base[64], secret[128];
	const char *argv[] = {"pvmd", "--config", ini, NULL};
	char env[64];
	struct th_resp r;
	struct stat sb;
	char *text, *line, *save;
	int port = free_port(), status, lines = 0;
	pid_t pid;
	FILE *f;

	snprintf(ini, sizeof(ini), "%s/pvmd.ini", dir);
	snprintf(log, sizeof(log), "%s/pvmd.log", dir);
	f = fopen(ini, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"role = controller\nlisten = 127.0.0.1:%d\nstate_dir = %s/state\n[log]\n"
		"format = json\n",
		port, dir);
	fclose(f);
	/* the environment overrides the file */
	snprintf(env, sizeof(env), "PVM_HEARTBEAT_S=7");
	pid = spawn(argv, env, log);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	for (int i = 0; i < 500; i++) {
		th_req_url(base, "GET", "/healthz", NULL, NULL, NULL, &r);
		status = (int)r.status;
		th_resp_free(&r);
		if (status == 200)
			break;
		pvm_sleep_ns(20 * 1000000ull);
	}
	ck_assert_int_eq(status, 200);
	snprintf(tokpath, sizeof(tokpath), "%s/state/admin.token", dir);
	ck_assert_int_eq(stat(tokpath, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	text = slurp(tokpath);
	snprintf(secret, sizeof(secret), "%s", text);
	secret[strcspn(secret, "\n")] = '\0';
	free(text);
	/* a host heartbeat answer carries the interval from the environment */
	th_req_url(base, "POST", "/v1/tokens", secret, "{\"name\":\"h\",\"role\":\"host\"}", NULL,
		   &r);
	ck_assert_int_eq(r.status, 201);
	{
		char hs[128], hid[64], path[128];
		struct th_resp q;

		snprintf(hs, sizeof(hs), "%s", th_str(&r, "secret"));
		th_req_url(base, "POST", "/v1/hosts", hs, "{\"name\":\"h\",\"cpus\":1}", NULL, &q);
		ck_assert_int_eq(q.status, 201);
		snprintf(hid, sizeof(hid), "%s", th_str(&q, "id"));
		th_resp_free(&q);
		snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", hid);
		th_req_url(base, "POST", path, hs, "{}", NULL, &q);
		ck_assert_int_eq(q.status, 200);
		ck_assert_int_eq(
		    json_object_get_int(json_object_object_get(q.json, "heartbeat_interval_s")), 7);
		th_resp_free(&q);
	}
	th_resp_free(&r);
	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	text = slurp(log);
	ck_assert_ptr_nonnull(strstr(text, tokpath));  /* the path is logged */
	ck_assert_ptr_null(strstr(text, secret));      /* the secret never */
	ck_assert_ptr_nonnull(strstr(text, "access")); /* one line per request */
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(line);

		ck_assert_msg(o != NULL, "not JSON: %s", line);
		json_object_put(o);
		lines++;
	}
	ck_assert_int_ge(lines, 5);
	free(text);

	/* a restart keeps the token: no second bootstrap */
	pid = spawn(argv, NULL, log);
	for (int i = 0; i < 500; i++) {
		th_req_url(base, "GET", "/v1/version", secret, NULL, NULL, &r);
		status = (int)r.status;
		th_resp_free(&r);
		if (status == 200)
			break;
		pvm_sleep_ns(20 * 1000000ull);
	}
	ck_assert_int_eq(status, 200);
	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

static void write_ini(const char *path, int port, const char *log_level)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(
	    f,
	    "role = controller\nlisten = 127.0.0.1:%d\nstate_dir = %s/state\n[log]\nlevel = %s\n",
	    port, dir, log_level);
	fclose(f);
}

/* Waits until the log holds `what` (pvmd handles SIGHUP on its own thread). */
static bool log_shows(const char *log, const char *what)
{
	for (int i = 0; i < 250; i++) {
		char *text = slurp(log);
		bool found = strstr(text, what) != NULL;

		free(text);
		if (found)
			return true;
		pvm_sleep_ns(20 * 1000000ull);
	}
	return false;
}

START_TEST(sighup_reloads_configuration)
{
	char ini[256], log[256], base[64];
	const char *argv[] = {"pvmd", "--config", ini, NULL};
	int port = free_port(), status = 0;
	struct th_resp r;
	char *text;
	pid_t pid;

	snprintf(ini, sizeof(ini), "%s/pvmd.ini", dir);
	snprintf(log, sizeof(log), "%s/pvmd.log", dir);
	write_ini(ini, port, "warn");
	pid = spawn(argv, NULL, log);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	for (int i = 0; i < 500 && status != 200; i++) {
		th_req_url(base, "GET", "/healthz", NULL, NULL, NULL, &r);
		status = (int)r.status;
		th_resp_free(&r);
		pvm_sleep_ns(20 * 1000000ull);
	}
	ck_assert_int_eq(status, 200);
	text = slurp(log);
	ck_assert_ptr_null(strstr(text, "access")); /* info lines are off at warn */
	free(text);

	/* the log level takes effect at once; the listen address only at a restart */
	write_ini(ini, port + 1 > 65535 ? port - 1 : port + 1, "info");
	kill(pid, SIGHUP);
	ck_assert(log_shows(log, "listen changed; it takes effect when pvmd restarts"));
	ck_assert(log_shows(log, "SIGHUP: configuration read again, 2 setting(s) changed"));
	th_req_url(base, "GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200); /* still on the old port */
	th_resp_free(&r);
	ck_assert(log_shows(log, "access method=GET path=/healthz"));

	/* a file that no longer parses changes nothing and stops nothing */
	{
		FILE *f = fopen(ini, "w");

		ck_assert_ptr_nonnull(f);
		fputs("[log]\nlevel = loud\n", f);
		fclose(f);
	}
	kill(pid, SIGHUP);
	ck_assert(log_shows(log, "bad log level loud; configuration unchanged"));
	th_req_url(base, "GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);

	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

static int run_status(const char *const *argv, char **err_text)
{
	char log[256];
	int status;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/usage.log", dir);
	pid = spawn(argv, NULL, log);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	*err_text = slurp(log);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(usage_errors)
{
	const char *unknown_flag[] = {"pvmd", "--no-such-flag", NULL};
	const char *bad_role[] = {"pvmd", "--role", "janitor", NULL};
	const char *bad_listen[] = {"pvmd", "--listen", "nowhere", "--state-dir", dir, NULL};
	const char *bad_platform[] = {"pvmd", "--platform", "xen", "--state-dir", dir, NULL};
	char ini[256];
	const char *bad_ini[] = {"pvmd", "--config", ini, NULL};
	char *text;
	FILE *f;

	ck_assert_int_eq(run_status(unknown_flag, &text), 2);
	ck_assert_ptr_nonnull(strstr(text, "--no-such-flag"));
	free(text);
	ck_assert_int_eq(run_status(bad_role, &text), 2);
	ck_assert_ptr_nonnull(strstr(text, "janitor"));
	free(text);
	ck_assert_int_eq(run_status(bad_listen, &text), 2);
	ck_assert_ptr_nonnull(strstr(text, "nowhere"));
	free(text);
	ck_assert_int_eq(run_status(bad_platform, &text), 2);
	ck_assert_ptr_nonnull(strstr(text, "platform xen"));
	free(text);
	snprintf(ini, sizeof(ini), "%s/bad.ini", dir);
	f = fopen(ini, "w");
	fprintf(f, "listen = 127.0.0.1:0\ncolour = blue\n");
	fclose(f);
	ck_assert_int_eq(run_status(bad_ini, &text), 2);
	ck_assert_ptr_nonnull(strstr(text, "colour"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_pvmd");
	TCase *tc = tcase_create("pvmd");
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_ALL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ini_env_json_logs_and_token);
	tcase_add_test(tc, sighup_reloads_configuration);
	tcase_add_test(tc, usage_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
