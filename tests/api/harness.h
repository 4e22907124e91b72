/* SPDX-License-Identifier: MIT */
/*
 * Test harness for the REST API: a real server on an ephemeral loopback port
 * over a real SQLite store in a temporary directory, driven with libcurl.
 */
#ifndef PVM_TESTS_API_HARNESS_H
#define PVM_TESTS_API_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "api/api.h"
#include "controller/controller.h"
#include "store/store.h"

struct th {
	char dir[256];
	struct store *st;
	struct controller *ctl;
	struct api_server *srv;
	char base[64];
	char admin[128];
};

struct th_resp {
	long status;
	char *body;
	size_t len;
	char etag[64];
	char ctype[128];
	char location[256];
	char www_auth[128];
	char allow[128];
	char retry_after[16];
	json_object *json; /* parsed body when it is JSON */
};

/* Starts a controller (heartbeat from over, else 10 s) and a server on it;
 * over (may be NULL) overrides config fields except store/listen/controller. */
void th_start(struct th *t, const struct api_config *over);
/* Stops the server, closes the store, keeps the directory (th_cleanup removes it). */
void th_stop(struct th *t);
void th_cleanup(struct th *t);

/*
 * One request. token NULL: no Authorization header. body NULL: none (else
 * sent as application/json unless a Content-Type is among headers). headers
 * is NULL-terminated or NULL.
 */
void th_req(struct th *t, const char *method, const char *path, const char *token, const char *body,
	    const char *const *headers, struct th_resp *r);
/* The same against any base URL (a pvmd process). */
void th_req_url(const char *base, const char *method, const char *path, const char *token,
		const char *body, const char *const *headers, struct th_resp *r);
void th_resp_free(struct th_resp *r);

/* A string member of the JSON answer, or "". */
const char *th_str(const struct th_resp *r, const char *name);
/* The problem type's last path segment ("invalid-field"), or "". */
const char *th_problem(const struct th_resp *r);

/* Creates a token with a role and copies its secret; returns its id in id (may be NULL). */
void th_token(struct th *t, const char *role, char *secret, size_t len, char *id, size_t idlen);
/* Registers a ready host with its own host token (cpus, memory) offering hooks (a JSON array
 * of names, e.g. "[\"console\",\"block\"]"). */
void th_host(struct th *t, const char *name, int cpus, int mem_mib, const char *hooks, char *id,
	     size_t idlen, char *token, size_t toklen);
/* A bare heartbeat ("{}": capabilities kept) from host id with its token, as the host daemon
 * sends one every interval: a test that runs longer than three intervals keeps its hosts ready. */
void th_beat(struct th *t, const char *id, const char *token);

/*
 * A real `pvmd --role controller` on dir (its state directory) and a free
 * loopback port, stderr to dir/pvmd.log; returns once /healthz answers, with
 * its URL in base. th_pvmd_admin reads the admin token it bootstrapped.
 */
/* A loopback TCP port free a moment ago. */
int th_free_port(void);
pid_t th_pvmd_start(const char *pvmd, const char *dir, char *base, size_t len);
void th_pvmd_admin(const char *dir, char *admin, size_t len);

/* A digest of everything in the store (ids, generations, last event): equal
 * digests mean nothing changed. Caller frees. */
char *th_digest(struct th *t);

#endif /* PVM_TESTS_API_HARNESS_H */
