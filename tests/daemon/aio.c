/* SPDX-License-Identifier: MIT */
/* The all-in-one pvmd as a child process (aio.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/daemon/aio.h"

/* The URL and the admin token pvmd prints on stdout (fp) once it listens. */
static int read_banner(struct aio *a, FILE *fp)
{
	char line[512], path[512] = "";
	FILE *t;

	while ((!a->base[0] || !path[0]) && fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "pvm is running: ", 16) == 0)
			snprintf(a->base, sizeof(a->base), "%s", line + 16);
		else if (strncmp(line, "admin token: ", 13) == 0)
			snprintf(path, sizeof(path), "%s", line + 13);
	}
	if (!a->base[0] || !path[0] || !(t = fopen(path, "r")))
		return -EPROTO;
	if (!fgets(a->token, sizeof(a->token), t))
		a->token[0] = '\0';
	fclose(t);
	a->token[strcspn(a->token, "\r\n")] = '\0';
	return a->token[0] ? 0 : -EPROTO;
}

/* Starts pvmd in a->dir (which exists) and reads its banner. */
static int aio_exec(struct aio *a, const char *pvmd, const char *vmm, const char *image_dir,
		    const char *const *args)
{
	const char *argv[32] = {
	    "pvmd",  "--state-dir", a->dir,	   "--listen", "127.0.0.1:0",
	    "--vmm", vmm,	    "--image-dir", image_dir,  "--stop-guests-on-exit"};
	struct pvm_err err = {0};
	char log[128];
	size_t n = 10;
	int out[2], ret;
	FILE *fp;

	while (*args && n < PVM_ARRAY_SIZE(argv) - 1)
		argv[n++] = *args++;
	if (*args)
		return -E2BIG;
	if (pipe(out) < 0)
		return -errno;
	snprintf(log, sizeof(log), "%s/pvmd.log", a->dir);
	a->base[0] = '\0';
	a->pid = fork();
	if (a->pid < 0)
		return -errno;
	if (a->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		dup2(out[1], 1);
		dup2(fd, 2);
		close(out[0]);
		execv(pvmd, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	fp = fdopen(out[0], "r");
	if (!fp) {
		close(out[0]);
		return -errno;
	}
	ret = read_banner(a, fp);
	fclose(fp);
	if (ret == 0)
		ret = pvmd_client_open(a->base, a->token, NULL, &a->cl, &err);
	if (ret < 0)
		fprintf(stderr, "pvmd did not start (see %s): %s\n", log, err.msg);
	return ret;
}

int aio_start(struct aio *a, const char *pvmd, const char *vmm, const char *image_dir,
	      const char *prefix, const char *const *args)
{
	snprintf(a->dir, sizeof(a->dir), "%sXXXXXX", prefix);
	if (!mkdtemp(a->dir))
		return -errno;
	return aio_exec(a, pvmd, vmm, image_dir, args);
}

int aio_restart(struct aio *a, const char *pvmd, const char *vmm, const char *image_dir,
		const char *const *args)
{
	if (a->pid > 0 || !a->dir[0])
		return -EBUSY;
	return aio_exec(a, pvmd, vmm, image_dir, args);
}

int aio_call(struct aio *a, const char *method, const char *path, const char *body, long *status,
	     json_object **ans)
{
	json_object *b = NULL;
	struct pvm_err err = {0};
	int ret = 0;

	*ans = NULL;
	if (body)
		ret = pvm_json_parse(body, strlen(body), &pvm_json_default_limits, &b, &err);
	if (ret == 0)
		ret = pvmd_client_call(a->cl, method, path, b, 30, status, ans, &err);
	if (ret < 0)
		fprintf(stderr, "%s %s: %s\n", method, path, err.msg);
	json_object_put(b);
	return ret;
}

json_object *aio_at(json_object *o, const char *path)
{
	char part[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		snprintf(part, sizeof(part), "%.*s", (int)n, path);
		if (!json_object_object_get_ex(o, part, &o))
			return NULL;
		path += n + (path[n] == '.');
	}
	return o;
}

const char *aio_str_at(json_object *o, const char *path)
{
	json_object *v = aio_at(o, path);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

int aio_stop(struct aio *a)
{
	int status = 0;

	pvmd_client_close(a->cl);
	a->cl = NULL;
	if (a->pid <= 0 || kill(a->pid, SIGTERM) < 0 || waitpid(a->pid, &status, 0) != a->pid)
		return -ECHILD;
	a->pid = 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

void aio_kill(struct aio *a)
{
	pvmd_client_close(a->cl);
	a->cl = NULL;
	if (a->pid > 0) {
		kill(a->pid, SIGKILL);
		waitpid(a->pid, NULL, 0);
	}
	a->pid = 0;
}
