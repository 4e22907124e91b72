/* SPDX-License-Identifier: MIT */
/* The all-in-one pvmd as a test's child (aio.h). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "tests/daemon/aio.h"

void aio_start(struct aio *a, const char *prefix, const char *const *args)
{
	const char *argv[32] = {
	    "pvmd",  "--state-dir", a->dir,	   "--listen",	  "127.0.0.1:0",
	    "--vmm", PVM_VMM,	    "--image-dir", PVM_GUEST_DIR, "--stop-guests-on-exit"};
	char log[128], line[512], path[512] = "";
	struct pvm_err err = {0};
	size_t n = 10;
	int out[2];
	FILE *fp;

	while (*args && n < PVM_ARRAY_SIZE(argv) - 1)
		argv[n++] = *args++;
	ck_assert_ptr_null(*args);
	snprintf(a->dir, sizeof(a->dir), "%sXXXXXX", prefix);
	ck_assert_ptr_nonnull(mkdtemp(a->dir));
	snprintf(log, sizeof(log), "%s/pvmd.log", a->dir);
	ck_assert_int_eq(pipe(out), 0);
	a->pid = fork();
	ck_assert_int_ge(a->pid, 0);
	if (a->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		dup2(out[1], 1);
		dup2(fd, 2);
		close(out[0]);
		execv(PVMD_BIN, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	fp = fdopen(out[0], "r");
	ck_assert_ptr_nonnull(fp);
	/* pvmd says where it listens and where the admin token is, on stdout */
	while ((!a->base[0] || !path[0]) && fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "pvm is running: ", 16) == 0)
			snprintf(a->base, sizeof(a->base), "%s", line + 16);
		else if (strncmp(line, "admin token: ", 13) == 0)
			snprintf(path, sizeof(path), "%s", line + 13);
	}
	fclose(fp);
	ck_assert_msg(a->base[0] && path[0], "pvmd printed no URL and token path (see %s)", log);
	fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(a->token, sizeof(a->token), fp));
	fclose(fp);
	a->token[strcspn(a->token, "\r\n")] = '\0';
	ck_assert_msg(pvmd_client_open(a->base, a->token, NULL, &a->cl, &err) == 0, "%s", err.msg);
}

json_object *aio_call(struct aio *a, const char *method, const char *path, const char *body,
		      long want)
{
	json_object *b = NULL, *ans = NULL;
	struct pvm_err err = {0};
	long status = 0;

	if (body)
		ck_assert_int_eq(
		    pvm_json_parse(body, strlen(body), &pvm_json_default_limits, &b, &err), 0);
	ck_assert_msg(pvmd_client_call(a->cl, method, path, b, 30, &status, &ans, &err) == 0, "%s",
		      err.msg);
	json_object_put(b);
	ck_assert_msg(status == want, "%s %s: HTTP %ld: %s", method, path, status,
		      ans ? json_object_to_json_string(ans) : "");
	return ans;
}

void aio_stop(struct aio *a)
{
	int status = 0;

	pvmd_client_close(a->cl);
	a->cl = NULL;
	ck_assert_int_eq(kill(a->pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(a->pid, &status, 0), a->pid);
	a->pid = 0;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pvmd status %#x", status);
}
