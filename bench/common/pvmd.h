/* SPDX-License-Identifier: MIT */
/*
 * pvmd processes for the benchmarks: a `pvmd --role controller` on a
 * loopback port it picks, called with its admin token, and `pvmd --role
 * host` daemons registered to it with host tokens it issues, each
 * optionally pinned to one CPU (pvmd and the VMMs it starts inherit the
 * affinity). Logs go to files in the caller's directory. The int functions
 * return 0 or a negative errno.
 */
#ifndef PVM_BENCH_PVMD_H
#define PVM_BENCH_PVMD_H

#include <sys/types.h>

#include <json-c/json.h>

struct pvmd_client;

struct bench_ctl {
	pid_t pid; /* 0: not running */
	char dir[200];
	char base[64]; /* http://127.0.0.1:PORT */
	struct pvmd_client *admin;
};

/* Starts pvmd --role controller in DIR/ctl with args (NULL-terminated,
 * may be NULL) and waits until it listens. Call bench_ctl_stop after a
 * failure too: the controller may be running. */
int bench_ctl_start(struct bench_ctl *c, const char *pvmd, const char *dir,
		    const char *const *args);
/* One admin request (body JSON text or NULL); -EPROTO unless the answer
 * has status want. *ans (may be NULL) the parsed answer, the caller's. */
int bench_ctl_call(struct bench_ctl *c, const char *method, const char *path, const char *body,
		   long want, json_object **ans);
/* A GET's status alone (404 is an answer, not a failure). */
int bench_ctl_status(struct bench_ctl *c, const char *path, long *status);
/* SIGTERM to the controller and the wait; the client closed. */
void bench_ctl_stop(struct bench_ctl *c);

/* Issues a host token and starts pvmd --role host named name (state in
 * DIR/name, log DIR/name.log) against c, on CPU cpu (-1: any), with args
 * after the common ones. */
int bench_host_start(struct bench_ctl *c, const char *pvmd, const char *name, int cpu,
		     const char *const *args, pid_t *pid);
/* SIGTERM, then SIGKILL after 20 s; reaped. */
void bench_proc_stop(pid_t pid);

#endif /* PVM_BENCH_PVMD_H */
