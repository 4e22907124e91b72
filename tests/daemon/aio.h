/* SPDX-License-Identifier: MIT */
/*
 * The all-in-one pvmd (no --role) as a test's child process: started on
 * loopback in a fresh state directory, called through the REST API with
 * its admin token, stopped with SIGTERM. Failed checks end the test (Check).
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

/* Starts PVMD_BIN with PVM_VMM and PVM_GUEST_DIR, --stop-guests-on-exit and
 * args (NULL-terminated) in a new directory named from prefix ("/tmp/x-"). */
void aio_start(struct aio *a, const char *prefix, const char *const *args);
/* One request (body JSON text or NULL) that must answer want; the answer. */
json_object *aio_call(struct aio *a, const char *method, const char *path, const char *body,
		      long want);
/* SIGTERM; pvmd must exit with status 0. */
void aio_stop(struct aio *a);

#endif /* PVM_TESTS_DAEMON_AIO_H */
