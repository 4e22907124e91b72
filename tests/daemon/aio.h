/* SPDX-License-Identifier: MIT */
/*
 * The all-in-one pvmd (no --role) as a child process, for the daemon tests
 * and bench/linux: started on loopback in a fresh state directory, called
 * through the REST API with its admin token, stopped with SIGTERM. No test
 * framework; every function returns 0 or a negative errno.
 */
#ifndef PVM_TESTS_DAEMON_AIO_H
#define PVM_TESTS_DAEMON_AIO_H

#include <sys/types.h>

#include "daemon/host.h"

struct aio {
	char dir[64];	 /* the state directory; "" before aio_start */
	char base[512];	 /* http://127.0.0.1:PORT */
	char token[256]; /* the admin token */
	pid_t pid;	 /* 0: not running */
	struct pvmd_client *cl;
};

/* Starts pvmd with --vmm vmm, --image-dir image_dir, --stop-guests-on-exit
 * and args (NULL-terminated) in a new directory named from prefix
 * ("/tmp/x-"); its log is DIR/pvmd.log. */
int aio_start(struct aio *a, const char *pvmd, const char *vmm, const char *image_dir,
	      const char *prefix, const char *const *args);
/* Starts pvmd again in the same directory (after aio_kill), as a
 * supervisor would; -EBUSY while it runs. */
int aio_restart(struct aio *a, const char *pvmd, const char *vmm, const char *image_dir,
		const char *const *args);
/* One request (body JSON text or NULL); *ans the answer or NULL. */
int aio_call(struct aio *a, const char *method, const char *path, const char *body, long *status,
	     json_object **ans);
/* The member at a dotted path ("agent.hello.os"), or NULL; and the string
 * there, or "". */
json_object *aio_at(json_object *o, const char *path);
const char *aio_str_at(json_object *o, const char *path);
/* SIGTERM and the exit; -EIO unless pvmd exited with status 0. */
int aio_stop(struct aio *a);
/* SIGKILL what still runs (after a failure); leaves the directory. */
void aio_kill(struct aio *a);

#endif /* PVM_TESTS_DAEMON_AIO_H */
