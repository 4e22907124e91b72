/* SPDX-License-Identifier: MIT */
/* Private to api/: the request and response shapes every handler shares. */
#ifndef PVM_API_INTERNAL_H
#define PVM_API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "api/api.h"

enum api_role {
	API_ROLE_NONE = 0,
	API_ROLE_ADMIN = 1u << 0,
	API_ROLE_OPERATOR = 1u << 1,
	API_ROLE_READER = 1u << 2,
	API_ROLE_HOST = 1u << 3,
};
#define API_ROLES_READ	(API_ROLE_ADMIN | API_ROLE_OPERATOR | API_ROLE_READER)
#define API_ROLES_WRITE (API_ROLE_ADMIN | API_ROLE_OPERATOR)
#define API_ROLES_ANY	(API_ROLES_READ | API_ROLE_HOST)
#define API_ROLE_PUBLIC 0u /* no token needed */

const char *api_role_name(unsigned role);

/* The kinds of problem a client can get; each has a stable type URI. */
enum api_problem {
	API_P_BAD_JSON,
	API_P_INVALID,
	API_P_TOO_LARGE,
	API_P_UNAUTHORIZED,
	API_P_TOKEN_EXPIRED,
	API_P_FORBIDDEN,
	API_P_NOT_FOUND,
	API_P_METHOD,
	API_P_CONFLICT,
	API_P_PRECONDITION,
	API_P_IDEMPOTENCY,
	API_P_NO_CAPACITY,
	API_P_MEDIA_TYPE,
	API_P_UNAVAILABLE,
	API_P_STORAGE,
	API_P_INTERNAL,
	API_P_COUNT
};

#define API_PROBLEM_BASE API_PROBLEM_URI
/* Seconds a 503's Retry-After asks a client to wait. */
#define API_RETRY_AFTER_S "2"

#define API_MAX_PARAMS 2

struct api_server;

struct api_req {
	struct api_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	const struct api_route *route;
	const char *params[API_MAX_PARAMS]; /* {id} captures, NUL-terminated copies */
	char param_buf[2][128];
	struct pvm_buf body;
	size_t body_seen;
	bool too_large;
	bool done;
	/* authentication result */
	unsigned role;
	char token_id[40];
	char token_host[40];	  /* the host a host token speaks for, "" when unbound */
	int64_t token_expires_ms; /* wall clock ms; 0: never */
	uint64_t start_ns;
	unsigned status;
	size_t resp_bytes;
};

struct api_resp {
	unsigned status;
	json_object *body; /* owned */
	char *raw;	   /* owned, alternative to body */
	size_t raw_len;
	const char *content_type;
	char etag[40];
	char location[160];
	const char *www_authenticate; /* a 401's challenge when not the plain one */
	char allow[48];		      /* a 405's methods */
	/* a streaming answer (SSE) */
	MHD_ContentReaderCallback stream;
	void *stream_cls;
	MHD_ContentReaderFreeCallback stream_free;
};

typedef int (*api_handler_fn)(struct api_req *rq, struct api_resp *rs);

struct api_route {
	const char *method;
	const char *pattern; /* "/v1/guests/{id}" */
	api_handler_fn fn;
	unsigned roles; /* roles allowed; API_ROLE_PUBLIC: no token */
	const char *summary;
	const char *tag;
	const char *body_schema; /* OpenAPI components schema name, or NULL */
	unsigned ok_status;
	/* The success answer: an api_answers name (a page of them on a paged
	 * route), or a media type ("text/plain") for what is not JSON; NULL: none. */
	const char *ok_schema;
	bool has_query_paging;
	bool has_query_wait;
	/* A host token may use it only for its own host (or its guests): the
	 * handler checks (api_host_scope); the auth-matrix test holds it. */
	bool host_own;
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;

/* An answer's shape for the OpenAPI document (answers.c): fields, and more
 * fields merged in (a guest's detail), or none. */
struct api_answer {
	const char *name;
	const struct pvm_json_field *fields;
	size_t nfields;
	const struct pvm_json_field *more;
	size_t nmore;
};

extern const struct api_answer api_answers[];
extern const size_t api_nanswers;

/* Finds a route for method + path (HEAD finds GET's); fills rq->params.
 * Returns the route, or NULL with allow naming the path's methods (a 405),
 * or empty when no route has the path (a 404). */
const struct api_route *api_route_match(const char *method, const char *path, struct api_req *rq,
					char *allow, size_t allow_len);

/* Fills rs with an application/problem+json answer; returns 0. */
int api_problem(struct api_resp *rs, unsigned status, enum api_problem kind, const char *field,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Maps a pvm_err from validation onto 400 (or 413 for E2BIG). */
int api_problem_err(struct api_resp *rs, const struct pvm_err *err);

/* Sets a JSON answer (takes the reference). */
int api_json(struct api_resp *rs, unsigned status, json_object *body);

/* Parses the request body strictly and checks it against a schema. */
int api_body_parse(struct api_req *rq, struct api_resp *rs, const struct pvm_json_field *fields,
		   size_t nfields, json_object **out);

const char *api_header(struct api_req *rq, const char *name);
const char *api_query(struct api_req *rq, const char *name);

/* ---- server state shared by handlers --------------------------------- */

#define API_LAT_BUCKETS 12
extern const double api_lat_bounds[API_LAT_BUCKETS];

#define API_NCODES 18
extern const unsigned api_codes[API_NCODES]; /* the last slot counts any other */

struct api_route_stats {
	atomic_uint_fast64_t by_code[API_NCODES];
	atomic_uint_fast64_t lat_bucket[API_LAT_BUCKETS + 1];
	atomic_uint_fast64_t lat_sum_us;
	atomic_uint_fast64_t count;
};

#define API_TOKCACHE_SLOTS 256

struct api_tok_entry {
	unsigned char hash[32];
	unsigned role;
	char token_id[40];
	char token_host[40];
	uint64_t expires_ns; /* 0: empty */
};

struct api_server {
	struct api_config cfg;
	struct MHD_Daemon *mhd;
	uint16_t port;
	char *tls_cert_pem;
	char *tls_key_pem;
	atomic_bool stopping;
	atomic_int in_flight;
	pthread_mutex_t tokcache_lock;
	struct api_tok_entry tokcache[API_TOKCACHE_SLOTS];
	struct api_route_stats *route_stats; /* api_nroutes + 1 (unmatched) */
};

/*
 * Waits for an event after seq `since` until deadline_ns or the server
 * stops: 0 when one exists, -ETIMEDOUT otherwise.
 */
int api_events_wait(struct api_server *srv, int64_t since, uint64_t deadline_ns);

/* Token cache (tokcache.c): by SHA-256 of the secret. */
void api_tokcache_hash(const char *secret, unsigned char out[32]);
bool api_tokcache_get(struct api_server *srv, const unsigned char h[32], struct api_req *rq);
void api_tokcache_put(struct api_server *srv, const unsigned char h[32], const struct api_req *rq);
/* Drops a token (revoked, or bound to a host) from the cache. */
void api_tokcache_forget(struct api_server *srv, const char *token_id);

/* Authenticates the bearer token in rq; 0, or a problem already in rs. */
int api_auth(struct api_req *rq, struct api_resp *rs);

void api_stats_record(struct api_server *srv, const struct api_route *route, unsigned status,
		      uint64_t dur_ns);

/* The wait= query clamped to the server maximum; -EINVAL on bad input. */
int api_query_wait(struct api_req *rq, struct api_resp *rs, uint64_t *deadline_ns);
int api_query_u64(struct api_req *rq, struct api_resp *rs, const char *name, uint64_t def,
		  uint64_t max, uint64_t *out);

struct store_list_opts;
struct store_host;
struct store_guest;
struct store_exit_count;
struct store_guest_agent;
struct store_image;

/* Maps a store error onto a problem (404, 409, 412, 400, 503). */
int api_store_problem(struct api_resp *rs, int ret, const struct pvm_err *err);
/* If-Match: *gen 0 when absent or "*"; 400 when malformed. */
int api_if_match(struct api_req *rq, struct api_resp *rs, int64_t *gen);
void api_set_etag(struct api_resp *rs, int64_t gen);
/* ms since the epoch as RFC 3339 UTC ("2026-01-02T03:04:05.678Z") in buf. */
#define API_RFC3339_MAX 32
const char *api_rfc3339(int64_t ms, char *buf, size_t len);
/* limit and page_token into opts (page_token points into the request). */
int api_page_opts(struct api_req *rq, struct api_resp *rs, struct store_list_opts *opts);
/* Adds "items" and "next_page_token" (null on the last page) to a list answer. */
json_object *api_page_answer(json_object *items, const char *next);
/* Parses a JSON text column into an object (an empty object when bad). */
json_object *api_json_text(const char *text);
/* Serialises obj as compact text (caller frees). */
char *api_json_dup(json_object *obj);

/* labels: an object of up to 16 string values; keys 1..63 bytes of
 * [a-z0-9._/-], values up to 63 bytes. */
int api_check_labels(json_object *obj, const char *ptr, struct pvm_err *err);
/* An array of strings, each 1..max_len bytes; known(), when given, must
 * accept each. */
int api_check_str_array(json_object *arr, const char *ptr, size_t max_len,
			bool (*known)(const char *s), struct pvm_err *err);
bool api_hook_known(const char *s);
/* A host token may only speak for its own host. */
int api_host_scope(struct api_req *rq, struct api_resp *rs, const char *host_id);

/* ---- resources (hosts.c, guests.c) ------------------------------------- */

json_object *api_host_json(const struct store_host *h);
json_object *api_guest_json(const struct store_guest *g);
/* Answers with one guest, its ETag, and its "capabilities", "hook_stats",
 * "exits" and "agent", read from the store. */
int api_guest_answer(struct api_server *srv, const struct store_guest *g, struct api_resp *rs);
bool api_kvm_feature_known(const char *name);
/* The registered image a spec's "image" names, by id, then by name:
 * -ENOENT when it names none (a name the host finds itself, or a path). */
int api_image_find(struct store *st, const char *ref, struct store_image *out, struct pvm_err *err);
/* Checks a guest spec beyond its top-level schema. */
int api_spec_check(json_object *spec, struct pvm_err *err);
/* ---- relayed exits and agent state (relay.c) ---------------------------- */

/* The agent's state as a host relays it (hello required). */
int api_report_agent_check(json_object *agent, const char *path, struct pvm_err *err);
json_object *api_exits_json(const struct store_exit_count *e, size_t n);
/* The stored state plus "stale", "ready_ms" (hello first seen) and "updated_ms". */
json_object *api_agent_json(const struct store_guest_agent *a);
/* Request schemas: they validate bodies and generate the OpenAPI document. */
extern const struct pvm_json_field api_spec_fields[], api_guest_patch_fields[], api_report_fields[],
    api_host_register_fields[], api_heartbeat_fields[], api_host_patch_fields[], api_image_fields[],
    api_token_fields[], api_rebalance_fields[];
extern const size_t api_nspec_fields, api_nguest_patch_fields, api_nreport_fields,
    api_nhost_register_fields, api_nheartbeat_fields, api_nhost_patch_fields, api_nimage_fields,
    api_ntoken_fields, api_nrebalance_fields;

#endif /* PVM_API_INTERNAL_H */
