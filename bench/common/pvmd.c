/* SPDX-License-Identifier: MIT */
/* pvmd controller and host processes for the benchmarks (bench/common/pvmd.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/common/pvmd.h"
#include "common/common.h"
#include "daemon/host.h"

#define ARGS_MAX 48

/* The whole of a small file, NUL-terminated, into buf; 0 or -errno. */
static int slurp(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -errno;
	got = read(fd, buf, n - 1);
	close(fd);
	buf[got > 0 ? got : 0] = '\0';
	return got < 0 ? -EIO : 0;
}

/* The port from the start-up line "listening on http://127.0.0.1:0 (port N)"
 * or "listening on http://127.0.0.1:N"; 0 before it is written. */
static unsigned int listen_port(const char *log)
{
	static const char key[] = "listening on http://127.0.0.1:";
	const char *s = strstr(log, key);
	unsigned int port = 0;

	if (!s)
		return 0;
	s += strlen(key);
	if (sscanf(s, "%u", &port) == 1 && port)
		return port;
	s = strstr(s, "(port ");
	if (s && sscanf(s, "(port %u)", &port) == 1)
		return port;
	return 0;
}

/* fork + exec argv with stderr to log, pinned to cpu unless it is -1. */
static int spawn(char *const *argv, const char *log, int cpu, pid_t *pid)
{
	pid_t p = fork();

	if (p < 0)
		return -errno;
	if (p == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
		if (cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set) < 0)
				_exit(126);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	*pid = p;
	return 0;
}

static int append_args(char **argv, int n, const char *const *args)
{
	for (int i = 0; args && args[i]; i++) {
		if (n >= ARGS_MAX - 1)
			return -E2BIG;
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	return n;
}

int bench_ctl_start(struct bench_ctl *c, const char *pvmd, const char *dir, const char *const *args)
{
	char state[300], log[300], text[65536], *argv[ARGS_MAX];
	struct pvm_err err = {0};
	unsigned int port = 0;
	int n = 0, ret;

	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	snprintf(state, sizeof(state), "%s/ctl", dir);
	snprintf(log, sizeof(log), "%s/controller.log", dir);
	argv[n++] = (char *)pvmd;
	argv[n++] = "--role";
	argv[n++] = "controller";
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--state-dir";
	argv[n++] = state;
	ret = append_args(argv, n, args);
	if (ret < 0)
		return ret;
	ret = spawn(argv, log, -1, &c->pid);
	if (ret < 0)
		return ret;
	for (int i = 0; i < 1000 && !port; i++) {
		if (slurp(log, text, sizeof(text)) == 0)
			port = listen_port(text);
		if (!port)
			pvm_sleep_ns(10 * 1000 * 1000);
	}
	if (!port) {
		fprintf(stderr, "bench: the controller did not start; see %s\n", log);
		return -ETIMEDOUT;
	}
	snprintf(c->base, sizeof(c->base), "http://127.0.0.1:%u", port);
	snprintf(log, sizeof(log), "%s/ctl/admin.token", c->dir);
	ret = slurp(log, text, 512);
	if (ret < 0)
		return ret;
	text[strcspn(text, "\r\n")] = '\0';
	ret = pvmd_client_open(c->base, text, NULL, &c->admin, &err);
	if (ret < 0)
		fprintf(stderr, "bench: %s\n", err.msg);
	return ret;
}

int bench_ctl_call(struct bench_ctl *c, const char *method, const char *path, const char *body,
		   long want, json_object **ans)
{
	struct pvm_err err = {0};
	json_object *b = NULL, *a = NULL;
	long status = 0;
	int ret;

	if (ans)
		*ans = NULL;
	if (body && pvm_json_parse(body, strlen(body), &pvm_json_default_limits, &b, &err) < 0) {
		fprintf(stderr, "bench: bad request body for %s: %s\n", path, err.msg);
		return -EINVAL;
	}
	ret = pvmd_client_call(c->admin, method, path, b, 30, &status, &a, &err);
	json_object_put(b);
	if (ret < 0) {
		fprintf(stderr, "bench: %s %s: %s\n", method, path, err.msg);
		return ret;
	}
	if (status != want) {
		fprintf(stderr, "bench: %s %s: HTTP %ld: %s\n", method, path, status,
			a ? json_object_to_json_string(a) : "");
		json_object_put(a);
		return -EPROTO;
	}
	if (ans)
		*ans = a;
	else
		json_object_put(a);
	return 0;
}

int bench_ctl_status(struct bench_ctl *c, const char *path, long *status)
{
	struct pvm_err err = {0};
	json_object *a = NULL;
	int ret = pvmd_client_call(c->admin, "GET", path, NULL, 30, status, &a, &err);

	json_object_put(a);
	if (ret < 0)
		fprintf(stderr, "bench: GET %s: %s\n", path, err.msg);
	return ret;
}

void bench_proc_stop(pid_t pid)
{
	uint64_t end = pvm_now_ns() + 20ull * 1000000000ull;
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (pvm_now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return;
		}
		pvm_sleep_ns(10 * 1000 * 1000);
	}
}

void bench_ctl_stop(struct bench_ctl *c)
{
	pvmd_client_close(c->admin);
	c->admin = NULL;
	bench_proc_stop(c->pid);
	c->pid = 0;
}

int bench_host_start(struct bench_ctl *c, const char *pvmd, const char *name, int cpu,
		     const char *const *args, pid_t *pid)
{
	char body[128], tokfile[320], state[300], log[300], *argv[ARGS_MAX];
	const char *secret = NULL;
	json_object *tok;
	FILE *fp;
	int n = 0, ret;

	snprintf(body, sizeof(body), "{\"name\":\"%.60s\",\"role\":\"host\"}", name);
	ret = bench_ctl_call(c, "POST", "/v1/tokens", body, 201, &tok);
	if (ret < 0)
		return ret;
	snprintf(tokfile, sizeof(tokfile), "%s/%.40s.token", c->dir, name);
	fp = fopen(tokfile, "w");
	if (!fp || pvm_json_get_str(tok, "secret", &secret) < 0) {
		ret = fp ? -EPROTO : -errno;
		if (fp)
			fclose(fp);
		json_object_put(tok);
		return ret;
	}
	fprintf(fp, "%s\n", secret);
	fclose(fp);
	json_object_put(tok);
	snprintf(state, sizeof(state), "%s/%.40s", c->dir, name);
	snprintf(log, sizeof(log), "%s/%.40s.log", c->dir, name);
	argv[n++] = (char *)pvmd;
	argv[n++] = "--role";
	argv[n++] = "host";
	argv[n++] = "--controller";
	argv[n++] = c->base;
	argv[n++] = "--token-file";
	argv[n++] = tokfile;
	argv[n++] = "--state-dir";
	argv[n++] = state;
	argv[n++] = "--host-name";
	argv[n++] = (char *)name;
	argv[n++] = "--stop-guests-on-exit";
	ret = append_args(argv, n, args);
	if (ret < 0)
		return ret;
	return spawn(argv, log, cpu, pid);
}
