/* SPDX-License-Identifier: MIT */
/*
 * api: the REST control plane. An HTTP server (libmicrohttpd, optional TLS)
 * that serves /v1 over the store, places guests through the scheduler and
 * exposes /healthz, /readyz, /metrics and /v1/openapi.json. Public names
 * carry the prefix api_.
 */
#ifndef PVM_API_H
#define PVM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

struct store;
struct store_event;
struct controller;
struct api_server;

/* Every problem+json answer has type API_PROBLEM_URI + a stable slug:
 * malformed-json, invalid-field, body-too-large, unauthorized, forbidden,
 * not-found, method-not-allowed, conflict, precondition-failed,
 * idempotency-key-reused, no-host, unsupported-media-type, unavailable,
 * internal. */
#define API_PROBLEM_URI "https://pvm.dev/problems/"

struct api_config {
	const char *listen;   /* "ADDR:PORT"; port 0 picks an ephemeral one */
	const char *tls_cert; /* PEM file, or NULL for plain HTTP */
	const char *tls_key;  /* PEM file, required with tls_cert */
	size_t body_limit;    /* request bodies above this get 413; 0: 1 MiB */
	bool metrics_open;    /* serve /metrics without a token */
	unsigned heartbeat_s; /* hosts missing 3 of these become unreachable; 0: 10 */
	unsigned max_wait_s;  /* upper bound of ?wait= on long polls; 0: 60 */
	unsigned grace_s;     /* how long SIGTERM waits for requests in flight; 0: 10 */
	struct store *store;  /* borrowed; must outlive the server */
	/* borrowed; places, reaps and answers for the fleet; must outlive the server */
	struct controller *controller;
};

/* Starts serving in background threads. */
int api_server_start(const struct api_config *cfg, struct api_server **out, struct pvm_err *err);
/*
 * For the controller's on_event: drops cached tokens a revocation anywhere
 * (any replica on the same store) made stale. arg is the api_server.
 */
void api_server_event(const struct store_event *ev, void *arg);
/* The port actually bound (useful with port 0). */
uint16_t api_server_port(const struct api_server *srv);
/*
 * Stops accepting, wakes long polls, lets requests in flight finish (up to
 * grace_s) and frees the server. NULL is a no-op.
 */
void api_server_stop(struct api_server *srv);

/*
 * First start of an empty store: creates an admin token and writes its
 * secret to path (mode 0600, never logged). Does nothing when any token
 * exists. *created tells which happened.
 */
int api_bootstrap_admin(struct store *st, const char *path, bool *created, struct pvm_err *err);

/* The OpenAPI 3.1 document for every route (caller puts the reference). */
struct json_object *api_openapi(void);

#endif /* PVM_API_H */
