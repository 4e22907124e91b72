// SPDX-License-Identifier: MIT
#include "vmm.h"
#include "tests/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

const char *vmm_guest(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/guest-%s", PVM_GUEST_DIR, name);
	return path;
}

static void exec_vmm(const char *const *argv)
{
	const char *args[64];
	int n = 0;

	args[n++] = PVM_VMM;
	for (int i = 0; argv[i] && n < 63; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	execv(PVM_VMM, (char *const *)args);
	_exit(127);
}

static void drain(int fd, char **buf, size_t *len, bool *open)
{
	char tmp[65536];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n <= 0) {
		*open = false;
		return;
	}
	*buf = realloc(*buf, *len + (size_t)n + 1);
	memcpy(*buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = 0;
}

int vmm_run(struct vmm_result *r, const char *const *argv)
{
	int po[2], pe[2];
	pid_t pid;
	bool oo = true, eo = true;

	memset(r, 0, sizeof(*r));
	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		exec_vmm(argv);
	}
	close(po[1]);
	close(pe[1]);
	while (oo || eo) {
		struct pollfd p[2] = {{oo ? po[0] : -1, POLLIN, 0}, {eo ? pe[0] : -1, POLLIN, 0}};

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			drain(po[0], &r->out, &r->out_len, &oo);
		if (p[1].revents)
			drain(pe[0], &r->err, &r->err_len, &eo);
	}
	close(po[0]);
	close(pe[0]);
	r->code = vmm_wait(pid);
	return 0;
}

void vmm_result_free(struct vmm_result *r)
{
	free(r->out);
	free(r->err);
}

pid_t vmm_spawn(const char *const *argv, const char *out_path)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		exec_vmm(argv);
	}
	return pid;
}

int vmm_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

json_object *vmm_read_json(const char *path)
{
	return json_object_from_file(path);
}

long long vmm_json_int(json_object *o, const char *path)
{
	char key[128];
	const char *p = path;

	while (o && *p) {
		size_t n = strcspn(p, ".");
		json_object *next;

		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		if (!json_object_object_get_ex(o, key, &next))
			return -1;
		o = next;
		p += n;
		if (*p == '.')
			p++;
	}
	return o ? (long long)json_object_get_int64(o) : -1;
}

void vmm_require_platform(void)
{
	test_platform_require();
}

enum hv_platform_id vmm_platform(void)
{
	enum hv_platform_id id = HV_PLATFORM_AUTO;
	struct pvm_err err = {0};

	if (hv_platform_parse(test_platform(), &id, &err))
		fprintf(stderr, "PVM_PLATFORM: %s\n", err.msg);
	return id;
}

const char *vmm_tmp(const char *name)
{
	static char path[4096];

	mkdir(PVM_TEST_TMP, 0755);
	snprintf(path, sizeof(path), "%s/%d-%s", PVM_TEST_TMP, (int)getpid(), name);
	unlink(path);
	return path;
}

int vmm_ctl_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (int i = 0; i < 500; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		usleep(10000);
	}
	return -1;
}

json_object *vmm_ctl_ask(int fd, const char *line)
{
	char buf[65536];
	size_t n = 0, len = strlen(line);

	if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		return NULL;
	while (n < sizeof(buf) - 1) {
		if (read(fd, buf + n, 1) != 1)
			return NULL;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return json_tokener_parse(buf);
}
