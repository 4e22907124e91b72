/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/common/bench.h"

extern char **environ;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double to_ms(const char *v)
{
	double x = atof(v);

	if (strstr(v, "us"))
		return x / 1000.0;
	if (strstr(v, "ms"))
		return x;
	if (strstr(v, "s"))
		return x * 1000.0;
	return x;
}

int bench_wrk_start(const char *url, const char *token, const char *script, int threads, int conns,
		    int seconds, struct bench_wrk *w)
{
	char auth[160], t[16], c[16], d[16];
	const char *argv[16];
	posix_spawn_file_actions_t fa;
	int pipefd[2], argc = 0, ret;

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	snprintf(t, sizeof(t), "-t%d", threads);
	snprintf(c, sizeof(c), "-c%d", conns);
	snprintf(d, sizeof(d), "-d%d", seconds);
	argv[argc++] = "wrk";
	argv[argc++] = t;
	argv[argc++] = c;
	argv[argc++] = d;
	argv[argc++] = "--latency";
	argv[argc++] = "-H";
	argv[argc++] = auth;
	argv[argc++] = "-H";
	argv[argc++] = "Content-Type: application/json";
	if (script) {
		argv[argc++] = "-s";
		argv[argc++] = script;
	}
	argv[argc++] = url;
	argv[argc] = NULL;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	ret = posix_spawnp(&w->pid, "wrk", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (ret != 0) {
		close(pipefd[0]);
		fprintf(stderr, "bench: cannot run wrk (packaging/install-deps installs it)\n");
		return -ENOENT;
	}
	w->out = pipefd[0];
	return 0;
}

int bench_wrk_finish(struct bench_wrk *w, struct bench_wrk_result *out)
{
	char buf[8192], *p;
	size_t len = 0;
	ssize_t n;
	int status;

	while (len < sizeof(buf) - 1 && (n = read(w->out, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(w->out);
	waitpid(w->pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
	memset(out, 0, sizeof(*out));
	p = strstr(buf, "Requests/sec:");
	if (!p)
		return -EIO;
	out->rps = atof(p + 13);
	p = strstr(buf, " 99%");
	if (p)
		out->p99_ms = to_ms(p + 4 + strspn(p + 4, " "));
	p = strstr(buf, "Non-2xx or 3xx responses:");
	if (p)
		out->non2xx = atol(p + 25);
	return 0;
}
