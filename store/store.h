/* SPDX-License-Identifier: MIT */
/*
 * store: pvm's persistent state (hosts, guests, images, capabilities, hook
 * statistics, placements, events, tokens, idempotency keys) behind one narrow
 * interface. struct store hides a backend ops table: SQLite (sqlite.c) for
 * one controller, PostgreSQL (postgres.c, libpq) for several sharing one
 * database, chosen by the location's scheme; callers never see which.
 * Public names carry the prefix store_.
 *
 * Conventions
 * - Every function returns 0 (or a count where documented) or a negative
 *   errno, and fills *err (may be NULL) with a message:
 *     -ENOENT     unknown id (or a foreign key naming a missing row)
 *     -EEXIST     a unique name/key is already taken
 *     -ESTALE     optimistic-concurrency conflict: the row's generation is not
 *                 the expected one (the API answers 412/409)
 *     -EBUSY      the row is still referenced (a host with guests bound)
 *     -ENOSPC     the host lacks free resources for a bind
 *     -EINVAL     bad argument (bad enum, invalid JSON text, empty name, ...)
 *     -EKEYREVOKED  store_token_authenticate on a revoked token
 *     -EKEYEXPIRED  store_token_authenticate on a token past its expiry
 *     -EPROTO     the database schema is newer than this build knows
 *     -EAGAIN     another process held the database lock past the busy timeout
 *     -EDQUOT     the database's disk is full (SQLite: SQLITE_FULL or ENOSPC;
 *                 PostgreSQL: disk_full); the write left nothing behind
 *     -EIO        any other backend failure (message has the detail)
 * - IDs are text: a type prefix ("hst", "gst", "img", "tok", "plc"), "_" and
 *   128 bits in hex: 48 bits of creation time in ms, then 80 random bits, so
 *   ids sort roughly by creation, e.g. "gst_019abc...": 4 + 32 characters.
 *   They are safe to expose in URLs.
 *   Names are caller-chosen, unique per table, 1..STORE_NAME_MAX-1 bytes.
 * - Mutable rows carry `generation`: create sets 1, every change adds 1.
 *   Updates and deletes take the generation the caller read (`expected_gen`);
 *   0 means "any" (unconditional). A mismatch is -ESTALE.
 * - JSON columns (labels, capabilities, spec, explanation, payload, ...) are
 *   passed as JSON text; the store checks they parse and stores them as given.
 *   NULL on input means the default ("{}" for objects).
 * - Timestamps are Unix milliseconds (int64_t, *_ms).
 * - Records returned by the store own their heap strings; release them with
 *   the matching store_*_free (which frees members, not the struct itself).
 *
 * Threads: a struct store may be shared by any number of threads. It keeps a
 * small pool of backend connections, each with its own cached prepared
 * statements; every call borrows one. Reads run in parallel on WAL
 * snapshots. Writers are serialized inside the process by one mutex (so
 * in-process writers never spin on SQLITE_BUSY) and against other processes
 * by the busy timeout. A transaction (store_tx_begin) pins one connection to
 * the calling thread: every store call that thread makes on the same store
 * until commit/rollback runs inside that transaction.
 *
 * Events: every change the store makes to hosts, guests and tokens appends an
 * event in the same transaction (types listed below), so a watcher resuming
 * from a sequence number misses nothing.
 */
#ifndef PVM_STORE_H
#define PVM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* The schema version this build creates and understands. */
#define STORE_SCHEMA_VERSION 4

#define STORE_ID_MAX	 40  /* "gst_" + 32 hex + NUL, with room */
#define STORE_NAME_MAX	 128 /* names, incl. NUL */
#define STORE_ADDR_MAX	 256 /* host address or URL, incl. NUL */
#define STORE_HOOK_MAX	 64  /* hook / capability name, incl. NUL */
#define STORE_REASON_MAX 256 /* refusal reason, incl. NUL */
#define STORE_TYPE_MAX	 64  /* event type, decision, image format, incl. NUL */
#define STORE_KEY_MAX	 256 /* idempotency key, kv key, incl. NUL */
#define STORE_HASH_HEX	 65  /* SHA-256 in hex, incl. NUL */
#define STORE_SECRET_MAX 80  /* a token secret as handed out, incl. NUL */

/* An hv platform name ("kvm", "process"), incl. NUL. */
#define STORE_PLATFORM_MAX 16

#define STORE_LIST_DEFAULT 100
#define STORE_LIST_MAX	   1000

struct store;

/* ---- opening ------------------------------------------------------------ */

struct store_options {
	int busy_timeout_ms;   /* waiting for other processes' locks; 0: 5000 */
	int pool_size;	       /* connections; 0: 4 */
	bool durable;	       /* SQLite: synchronous=FULL (survives power loss); default
				* NORMAL (survives any process crash) */
	int rollup_window_min; /* per-minute hook stat rollups kept; 0: 1440 */
	bool no_create;	       /* SQLite: a missing database is -ENOENT, not created */
};

/*
 * Opens (creating if needed) the store at `location`: a file path or
 * "sqlite:PATH" (SQLite), or a libpq URI "postgres://..." /
 * "postgresql://..." naming an existing database (PostgreSQL; the tables
 * are created in it). Runs pending migrations. A database whose schema version is
 * newer than STORE_SCHEMA_VERSION is refused with -EPROTO. opts may be NULL.
 */
int store_open(const char *location, const struct store_options *opts, struct store **out,
	       struct pvm_err *err);
void store_close(struct store *s);
/* The schema version found in the database (after migration). */
int store_schema_version(struct store *s, int *version, struct pvm_err *err);
/* Runs the backend's consistency check (SQLite: PRAGMA integrity_check;
 * PostgreSQL: the core tables are there); -EIO with its first complaint
 * when not ok. */
int store_check_integrity(struct store *s, struct pvm_err *err);

/* ---- backup and restore ------------------------------------------------- */

/*
 * Copies the store, while it serves, into the new file `to` (-EEXIST when
 * it exists). SQLite: the online backup API in steps, all from one read
 * snapshot, so writers in this and other processes go on (WAL readers never
 * block them) and the copy is the store as it was when the backup began.
 * The copy is written beside `to` (`to`.partial), checked for integrity and
 * renamed into place only when complete; it is one file (no -wal), owner
 * only (it holds token hashes). PostgreSQL: -EOPNOTSUPP (pg_dump the
 * database).
 */
int store_backup(struct store *s, const char *to, struct pvm_err *err);
/*
 * Puts the backup `from` in place as the store at `location`, then opens it
 * once (migrating a backup of an older schema) and checks its integrity.
 * The backup must pass the integrity check and hold a schema this build
 * knows. A store already at `location` is replaced only with `replace`
 * (else -EEXIST); whoever serves it should be stopped first. PostgreSQL:
 * -EOPNOTSUPP (pg_restore).
 */
int store_restore(const char *from, const char *location, bool replace, struct pvm_err *err);

/* ---- transactions ------------------------------------------------------- */

/*
 * Groups several store calls into one atomic change. Thread-affine: the
 * calling thread's store calls join the transaction until it ends. Nesting is
 * allowed (inner levels are savepoints). Every single store call that changes
 * more than one row is already atomic on its own.
 */
int store_tx_begin(struct store *s, struct pvm_err *err);
int store_tx_commit(struct store *s, struct pvm_err *err);
void store_tx_rollback(struct store *s);

/* ---- listing ------------------------------------------------------------ */

/* Cursor pagination: pass the previous page's `next` as `after`. */
struct store_list_opts {
	const char *after;    /* NULL or "": from the start */
	size_t limit;	      /* 0: STORE_LIST_DEFAULT; capped at STORE_LIST_MAX */
	const char *host_id;  /* guests, placements: only rows on this host */
	const char *guest_id; /* placements: only rows for this guest */
	bool unbound;	      /* guests: only those not bound to a host */
};

/* ---- hosts -------------------------------------------------------------- */

enum store_host_state {
	STORE_HOST_READY = 0,
	STORE_HOST_NOT_READY,	/* registered, not yet heartbeating */
	STORE_HOST_UNREACHABLE, /* missed its heartbeats */
};

struct store_host {
	char id[STORE_ID_MAX];
	char name[STORE_NAME_MAX];
	char address[STORE_ADDR_MAX];
	enum store_host_state state;
	bool cordoned;
	bool draining;
	char *labels;	    /* JSON object */
	char *capabilities; /* JSON object: hooks offered, ABI versions, KVM pv
			     * features, drivers (as the host reports them) */
	int64_t cpus;
	int64_t memory_mib;
	int64_t disk_gib;
	/* Capacity minus what bound guests request; kept by the store on
	 * bind/unbind/delete and on capacity changes. */
	int64_t free_cpus;
	int64_t free_memory_mib;
	int64_t free_disk_gib;
	int64_t last_heartbeat_ms; /* 0: never */
	int64_t generation;
	int64_t created_ms;
	int64_t updated_ms;
};

struct store_host_list {
	struct store_host *items;
	size_t n;
	char next[STORE_ID_MAX]; /* "" on the last page */
};

/* In: name, address, state, cordoned, draining, labels, capabilities,
 * cpus/memory_mib/disk_gib. Out: id, free_* (= capacity), generation 1,
 * timestamps. Event "host.created". */
int store_host_create(struct store *s, struct store_host *h, struct pvm_err *err);
int store_host_get(struct store *s, const char *id, struct store_host *out, struct pvm_err *err);
int store_host_get_by_name(struct store *s, const char *name, struct store_host *out,
			   struct pvm_err *err);
/*
 * Writes every mutable field of h (name, address, state, cordoned, draining,
 * labels, capabilities, capacity, last_heartbeat_ms) if the row's generation
 * is h->generation (0: any). Free resources move by the capacity delta. On
 * success h->generation, updated_ms and free_* are refreshed. Event
 * "host.updated" (or "host.ready"/"host.unreachable" on a state change).
 */
int store_host_update(struct store *s, struct store_host *h, struct pvm_err *err);

struct store_heartbeat {
	const char *capabilities; /* NULL: unchanged */
	int64_t cpus;		  /* <0: unchanged (also memory_mib, disk_gib) */
	int64_t memory_mib;
	int64_t disk_gib;
	int64_t now_ms; /* 0: current wall time */
};
/*
 * Records a heartbeat without a generation check (the host is authoritative
 * about itself): sets last_heartbeat_ms and state ready. The generation only
 * moves when something besides the heartbeat time changed, so operators'
 * If-Match is not broken by heartbeats. hb NULL: a bare heartbeat (nothing
 * but the time). out may be NULL.
 */
int store_host_heartbeat(struct store *s, const char *id, const struct store_heartbeat *hb,
			 struct store_host *out, struct pvm_err *err);
/* Marks every ready host whose last heartbeat is older than cutoff_ms
 * unreachable (one event each). Returns how many. */
int store_host_mark_unreachable(struct store *s, int64_t cutoff_ms, struct pvm_err *err);
/* -EBUSY while guests are bound to it. Event "host.deleted". */
int store_host_delete(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err);
int store_host_list(struct store *s, const struct store_list_opts *opts,
		    struct store_host_list *out, struct pvm_err *err);
void store_host_free(struct store_host *h);
void store_host_list_free(struct store_host_list *l);

/* ---- guests ------------------------------------------------------------- */

enum store_guest_kind {
	STORE_GUEST_MICROGUEST = 0,
	STORE_GUEST_LINUX,
	STORE_GUEST_LIBVIRT,
};

enum store_desired_state {
	STORE_DESIRED_RUNNING = 0,
	STORE_DESIRED_STOPPED,
};

enum store_observed_state {
	STORE_OBSERVED_PENDING = 0, /* not placed */
	STORE_OBSERVED_SCHEDULED,   /* bound to a host, not yet reported */
	STORE_OBSERVED_STARTING,
	STORE_OBSERVED_RUNNING,
	STORE_OBSERVED_STOPPED,
	STORE_OBSERVED_FAILED,
	STORE_OBSERVED_UNKNOWN, /* its host is unreachable */
};

enum store_restart_policy {
	STORE_RESTART_NEVER = 0,
	STORE_RESTART_ON_FAILURE,
	STORE_RESTART_ALWAYS,
};

struct store_guest {
	char id[STORE_ID_MAX];
	char name[STORE_NAME_MAX];
	char *spec; /* JSON object: the spec as accepted by the API */
	enum store_guest_kind kind;
	enum store_desired_state desired_state;
	enum store_observed_state observed_state;
	enum store_restart_policy restart_policy;
	/* Requested resources, copied out of the spec for accounting. */
	int64_t vcpus;
	int64_t memory_mib;
	int64_t disk_gib;
	char host_id[STORE_ID_MAX]; /* "" when not bound */
	/* Observed (schema v4): the hv platform its host runs it on, a name of
	 * common.h's table; "" until its host reported one since the last bind. */
	char platform[STORE_PLATFORM_MAX];
	int64_t generation;
	int64_t created_ms;
	int64_t updated_ms;
};

struct store_guest_list {
	struct store_guest *items;
	size_t n;
	char next[STORE_ID_MAX];
};

/* In: name, spec, kind, desired_state, restart_policy, vcpus, memory_mib,
 * disk_gib (observed_state and host_id are ignored: a new guest is pending
 * and unbound). Out: id, generation 1, timestamps. Event "guest.created". */
int store_guest_create(struct store *s, struct store_guest *g, struct pvm_err *err);
int store_guest_get(struct store *s, const char *id, struct store_guest *out, struct pvm_err *err);
int store_guest_get_by_name(struct store *s, const char *name, struct store_guest *out,
			    struct pvm_err *err);
/*
 * Writes spec, desired_state, restart_policy, observed_state if the
 * generation matches (0: any). Name, resources and binding are not changed
 * here (binding: store_guest_bind/unbind). Event "guest.updated".
 */
int store_guest_update(struct store *s, struct store_guest *g, struct pvm_err *err);
/* A host's report of observed state: no generation check; event
 * "guest.observed" when it changed. out may be NULL. */
int store_guest_set_observed(struct store *s, const char *id, enum store_observed_state state,
			     struct store_guest *out, struct pvm_err *err);
/* A host's report of the hv platform the guest runs on (pvm_platform_name's
 * names; -EINVAL for another): no generation check; event "guest.observed"
 * when it changed. */
int store_guest_set_platform(struct store *s, const char *id, const char *platform,
			     struct pvm_err *err);
/*
 * Binds a guest to a host in one transaction: checks the guest's generation
 * (0: any) and the host's free resources (-ENOSPC), moves the guest off its
 * previous host if any, takes the resources, sets observed state scheduled
 * (and no observed platform), records a placement (decision "bound" with the
 * explanation JSON, may be NULL) and appends event "guest.bound". out may be
 * NULL.
 */
int store_guest_bind(struct store *s, const char *guest_id, int64_t expected_gen,
		     const char *host_id, const char *explanation, struct store_guest *out,
		     struct pvm_err *err);
/* Gives the guest's resources back to its host, unbinds it, observed state
 * pending, no observed platform. Event "guest.unbound". A guest not bound: 0, nothing changes. */
int store_guest_unbind(struct store *s, const char *guest_id, int64_t expected_gen,
		       struct store_guest *out, struct pvm_err *err);
/* Releases its host's resources; its capabilities, stats and placements go
 * with it. Event "guest.deleted". */
int store_guest_delete(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err);
int store_guest_list(struct store *s, const struct store_list_opts *opts,
		     struct store_guest_list *out, struct pvm_err *err);
void store_guest_free(struct store_guest *g);
void store_guest_list_free(struct store_guest_list *l);

/* ---- images ------------------------------------------------------------- */

struct store_image {
	char id[STORE_ID_MAX];
	char name[STORE_NAME_MAX];
	char format[STORE_TYPE_MAX]; /* "elf", "raw", "qcow2", "kernel", ... */
	char *source;		     /* path or URL */
	int64_t size_bytes;
	char sha256[STORE_HASH_HEX]; /* "" when unknown */
	int64_t generation;
	int64_t created_ms;
	int64_t updated_ms;
};

struct store_image_list {
	struct store_image *items;
	size_t n;
	char next[STORE_ID_MAX];
};

int store_image_create(struct store *s, struct store_image *im, struct pvm_err *err);
int store_image_get(struct store *s, const char *id, struct store_image *out, struct pvm_err *err);
int store_image_get_by_name(struct store *s, const char *name, struct store_image *out,
			    struct pvm_err *err);
/* Writes name, format, source, size_bytes, sha256 (generation-checked). */
int store_image_update(struct store *s, struct store_image *im, struct pvm_err *err);
int store_image_delete(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err);
int store_image_list(struct store *s, const struct store_list_opts *opts,
		     struct store_image_list *out, struct pvm_err *err);
void store_image_free(struct store_image *im);
void store_image_list_free(struct store_image_list *l);

/* ---- capabilities: hooks offered per host, negotiated per guest --------- */

enum store_cap_state {
	STORE_CAP_OFFERED = 0, /* a host offers it */
	STORE_CAP_ACCEPTED,    /* negotiated in for a guest */
	STORE_CAP_REFUSED,     /* asked for by a guest, refused (reason says why) */
};

struct store_cap {
	char name[STORE_HOOK_MAX]; /* "console", "block", "kvm:steal_time", ... */
	enum store_cap_state state;
	int64_t abi_version;
	char reason[STORE_REASON_MAX]; /* refused: why; otherwise "" */
};

/* Replace the whole set for a host / guest atomically (n may be 0). */
int store_host_caps_set(struct store *s, const char *host_id, const struct store_cap *caps,
			size_t n, struct pvm_err *err);
int store_guest_caps_set(struct store *s, const char *guest_id, const struct store_cap *caps,
			 size_t n, struct pvm_err *err);
/* *out is malloc'ed (free() it), sorted by name; -ENOENT for unknown ids. */
int store_host_caps_get(struct store *s, const char *host_id, struct store_cap **out, size_t *n,
			struct pvm_err *err);
int store_guest_caps_get(struct store *s, const char *guest_id, struct store_cap **out, size_t *n,
			 struct pvm_err *err);

/* ---- hook statistics ---------------------------------------------------- */

/* Counters are cumulative since the guest's VMM started. */
struct store_hook_stat {
	char guest_id[STORE_ID_MAX];
	char hook[STORE_HOOK_MAX];
	int64_t calls;
	int64_t doorbells;
	int64_t bytes;
	int64_t errors;
	int64_t exits_avoided;
	char *histogram; /* JSON: host service-time histogram */
	int64_t updated_ms;
};

/* One minute of one hook of one guest: counter increases in that minute. */
struct store_hook_rollup {
	int64_t minute_ms; /* start of the minute */
	int64_t calls;
	int64_t doorbells;
	int64_t bytes;
	int64_t errors;
	int64_t exits_avoided;
};

/*
 * Stores the latest counters for n hooks of one guest (st[i].guest_id is
 * ignored) and adds their increase since the previous report to the current
 * minute's rollup (a counter that went down means the VMM restarted: the new
 * value is the increase). Rollups older than the window are pruned. now_ms 0:
 * wall time.
 */
int store_hook_stats_put(struct store *s, const char *guest_id, const struct store_hook_stat *st,
			 size_t n, int64_t now_ms, struct pvm_err *err);
/* Latest per hook for one guest, sorted by hook; free with
 * store_hook_stats_free. */
int store_hook_stats_get(struct store *s, const char *guest_id, struct store_hook_stat **out,
			 size_t *n, struct pvm_err *err);
/* Calls fn for every latest row of every guest (for /metrics) in one read
 * snapshot; fn's non-zero return stops the walk and is returned. The record
 * is only valid during the call. fn may read the store but must not write to
 * it (the walk holds a pooled connection; a writer may be waiting for one). */
int store_hook_stats_foreach(struct store *s,
			     int (*fn)(const struct store_hook_stat *st, void *arg), void *arg,
			     struct pvm_err *err);
void store_hook_stats_free(struct store_hook_stat *st, size_t n);
/* Rollups of one guest+hook from since_ms on, oldest first; *out malloc'ed. */
int store_hook_rollups_get(struct store *s, const char *guest_id, const char *hook,
			   int64_t since_ms, struct store_hook_rollup **out, size_t *n,
			   struct pvm_err *err);
/* Deletes rollups older than before_ms; returns how many. */
int store_hook_rollups_prune(struct store *s, int64_t before_ms, struct pvm_err *err);

/* ---- vCPU exits by reason (schema v2) ------------------------------------ */

#define STORE_EXIT_REASONS_MAX 32 /* reasons kept per guest */

/* A cumulative count since the guest's VMM started ("io", "hlt", "total", ...). */
struct store_exit_count {
	char guest_id[STORE_ID_MAX];
	char reason[STORE_HOOK_MAX]; /* [a-z0-9_], 1..63 bytes */
	int64_t count;
	int64_t updated_ms;
};

/*
 * Replaces the latest exit counts of one guest with e[0..n) (e[i].guest_id
 * is ignored). -EINVAL for a bad reason, a repeated reason, a negative count
 * or n > STORE_EXIT_REASONS_MAX; -ENOENT for an unknown guest. now_ms 0:
 * wall time.
 */
int store_guest_exits_put(struct store *s, const char *guest_id, const struct store_exit_count *e,
			  size_t n, int64_t now_ms, struct pvm_err *err);
/* One guest's counts sorted by reason; *out malloc'ed (free() it). */
int store_guest_exits_get(struct store *s, const char *guest_id, struct store_exit_count **out,
			  size_t *n, struct pvm_err *err);
/* Every guest's counts in one read snapshot, ordered by guest and reason;
 * the same rules as store_hook_stats_foreach. */
int store_guest_exits_foreach(struct store *s,
			      int (*fn)(const struct store_exit_count *e, void *arg), void *arg,
			      struct pvm_err *err);

/* ---- the guest agent's latest state (schema v2) -------------------------- */

struct store_guest_agent {
	char guest_id[STORE_ID_MAX];
	char *state;	  /* JSON object as the host relayed it */
	bool stale;	  /* the agent missed its report intervals */
	int64_t hello_ms; /* when the controller first saw the agent's hello */
	int64_t updated_ms;
};

/*
 * Stores the agent's latest state (a JSON object) for one guest. The first
 * put for a guest records hello_ms = now and appends the event
 * "guest.agent_ready"; it returns 1 then, 0 otherwise. -ENOENT for an
 * unknown guest.
 */
int store_guest_agent_put(struct store *s, const char *guest_id, const char *state, bool stale,
			  int64_t now_ms, struct pvm_err *err);
/* -ENOENT when the guest has no agent state (or does not exist). */
int store_guest_agent_get(struct store *s, const char *guest_id, struct store_guest_agent *out,
			  struct pvm_err *err);
/* As store_hook_stats_foreach; the record is only valid during the call. */
int store_guest_agent_foreach(struct store *s,
			      int (*fn)(const struct store_guest_agent *a, void *arg), void *arg,
			      struct pvm_err *err);
void store_guest_agent_free(struct store_guest_agent *a);

/* ---- placements --------------------------------------------------------- */

struct store_placement {
	char id[STORE_ID_MAX];
	char guest_id[STORE_ID_MAX];
	char host_id[STORE_ID_MAX];    /* "" when no host fitted */
	char decision[STORE_TYPE_MAX]; /* "bound", "unschedulable", "moved", ... */
	char *explanation;	       /* JSON: verdicts and scores */
	int64_t created_ms;
};

struct store_placement_list {
	struct store_placement *items;
	size_t n;
	char next[STORE_ID_MAX];
};

/* Records a decision (store_guest_bind records its own). Out: id, time. */
int store_placement_add(struct store *s, struct store_placement *p, struct pvm_err *err);
/* Newest last; cursor is the placement id; filters opts->guest_id/host_id. */
int store_placement_list(struct store *s, const struct store_list_opts *opts,
			 struct store_placement_list *out, struct pvm_err *err);
void store_placement_free(struct store_placement *p);
void store_placement_list_free(struct store_placement_list *l);

/* ---- events ------------------------------------------------------------- */

/* Types the store itself appends. */
#define STORE_EV_HOST_CREATED	   "host.created"
#define STORE_EV_HOST_UPDATED	   "host.updated"
#define STORE_EV_HOST_READY	   "host.ready"
#define STORE_EV_HOST_UNREACHABLE  "host.unreachable"
#define STORE_EV_HOST_DELETED	   "host.deleted"
#define STORE_EV_GUEST_CREATED	   "guest.created"
#define STORE_EV_GUEST_UPDATED	   "guest.updated"
#define STORE_EV_GUEST_OBSERVED	   "guest.observed"
#define STORE_EV_GUEST_BOUND	   "guest.bound"
#define STORE_EV_GUEST_UNBOUND	   "guest.unbound"
#define STORE_EV_GUEST_DELETED	   "guest.deleted"
#define STORE_EV_GUEST_AGENT_READY "guest.agent_ready"
#define STORE_EV_TOKEN_CREATED	   "token.created"
#define STORE_EV_TOKEN_REVOKED	   "token.revoked"

struct store_event {
	int64_t seq; /* strictly increasing, never reused */
	char type[STORE_TYPE_MAX];
	char subject[STORE_ID_MAX]; /* the id the event is about, or "" */
	char *payload;		    /* JSON object */
	int64_t time_ms;
};

struct store_event_list {
	struct store_event *items;
	size_t n;
	int64_t last_seq; /* seq of the last item, or the `since` passed in */
};

/* Appends a custom event; *seq may be NULL. payload NULL: "{}". */
int store_event_append(struct store *s, const char *type, const char *subject, const char *payload,
		       int64_t *seq, struct pvm_err *err);
/* Events with seq > since, oldest first, at most limit (0: default, capped). */
int store_events_since(struct store *s, int64_t since, size_t limit, struct store_event_list *out,
		       struct pvm_err *err);
/* The highest seq so far (0 for none). */
int store_events_last_seq(struct store *s, int64_t *seq, struct pvm_err *err);
/*
 * Blocks until an event with seq > since has been committed through this
 * struct store (or exists already), or timeout_ms passes: 0 or -ETIMEDOUT.
 * For long-polls; wakes on commits made in this process.
 */
int store_events_wait(struct store *s, int64_t since, int64_t timeout_ms, struct pvm_err *err);
/* Deletes events older than before_ms (sequence numbers are never reused).
 * Returns how many. */
int store_events_prune(struct store *s, int64_t before_ms, struct pvm_err *err);
void store_event_free(struct store_event *e);
void store_event_list_free(struct store_event_list *l);

/* ---- tokens ------------------------------------------------------------- */

enum store_token_role {
	STORE_ROLE_ADMIN = 0,
	STORE_ROLE_OPERATOR,
	STORE_ROLE_READER,
	STORE_ROLE_HOST,
};

struct store_token {
	char id[STORE_ID_MAX];
	char name[STORE_NAME_MAX];
	enum store_token_role role;
	char host_id[STORE_ID_MAX]; /* host tokens: the host it speaks for, or "" */
	char hash[STORE_HASH_HEX];  /* SHA-256 of the secret, hex; never the secret */
	bool revoked;
	int64_t revoked_ms;
	int64_t generation;
	int64_t created_ms;
	int64_t expires_ms; /* ms since the epoch; 0: never expires */
};

struct store_token_list {
	struct store_token *items;
	size_t n;
	char next[STORE_ID_MAX];
};

/*
 * Creates a token: in name, role, host_id (host role only, may be ""),
 * expires_ms (0: never; any other value is taken as is, so a caller may set
 * one in the past; bounding a TTL is the caller's policy). Generates a random secret ("pvm_" + 64
 * hex), stores only its SHA-256 and hands the secret out once in secret[STORE_SECRET_MAX]. Event
 * "token.created".
 */
int store_token_create(struct store *s, struct store_token *t, char *secret, struct pvm_err *err);
int store_token_get(struct store *s, const char *id, struct store_token *out, struct pvm_err *err);
/* Finds the token whose hash matches secret: -ENOENT unknown, -EKEYREVOKED
 * revoked, -EKEYEXPIRED past its expires_ms (out filled in the ok, revoked
 * and expired cases). Revocation is reported before expiry. */
int store_token_authenticate(struct store *s, const char *secret, struct store_token *out,
			     struct pvm_err *err);
/* Binds a host token to the host it registered (generation-checked). */
int store_token_set_host(struct store *s, const char *id, int64_t expected_gen, const char *host_id,
			 struct pvm_err *err);
/* Idempotent on an already revoked token. Event "token.revoked". */
int store_token_revoke(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err);
int store_token_delete(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err);
int store_token_list(struct store *s, const struct store_list_opts *opts,
		     struct store_token_list *out, struct pvm_err *err);
/* Non-revoked tokens (bootstrap: create the admin token when 0). */
int store_token_count(struct store *s, int64_t *count, struct pvm_err *err);
void store_token_list_free(struct store_token_list *l);

/* ---- idempotency keys --------------------------------------------------- */

struct store_idem {
	char key[STORE_KEY_MAX];	   /* the caller scopes it (e.g. token id + key) */
	char request_hash[STORE_HASH_HEX]; /* of method, path and body */
	int status;			   /* HTTP status of the first answer */
	char *body;			   /* its body */
	int64_t created_ms;
	int64_t expires_ms;
};

/* -ENOENT when absent or expired (now_ms 0: wall time). */
int store_idem_get(struct store *s, const char *key, int64_t now_ms, struct store_idem *out,
		   struct pvm_err *err);
/* -EEXIST when a live record has this key (an expired one is replaced).
 * Call inside the transaction that made the change it answers for. */
int store_idem_put(struct store *s, const struct store_idem *r, struct pvm_err *err);
/* Deletes expired records; returns how many. */
int store_idem_prune(struct store *s, int64_t now_ms, struct pvm_err *err);
void store_idem_free(struct store_idem *r);

/* ---- small key/value table (host daemons' local state) ------------------ */

/* value is JSON text. put replaces; get: *value malloc'ed; -ENOENT absent. */
int store_kv_put(struct store *s, const char *ns, const char *key, const char *value,
		 struct pvm_err *err);
int store_kv_get(struct store *s, const char *ns, const char *key, char **value,
		 struct pvm_err *err);
int store_kv_delete(struct store *s, const char *ns, const char *key, struct pvm_err *err);
/* Calls fn for every key of ns in key order; fn's non-zero return stops.
 * As for store_hook_stats_foreach, fn must not write to the store. */
int store_kv_foreach(struct store *s, const char *ns,
		     int (*fn)(const char *key, const char *value, void *arg), void *arg,
		     struct pvm_err *err);

/* ---- enum names (the API's and the database's spelling) ----------------- */

/* store_X_name(v) spells v ("invalid" out of range); store_X_nth(i) is the
 * i-th spelling, NULL past the last (a pvm_json_field's name_of). */

const char *store_host_state_name(enum store_host_state v);
int store_host_state_parse(const char *s, enum store_host_state *out);
const char *store_host_state_nth(unsigned i);
const char *store_guest_kind_name(enum store_guest_kind v);
int store_guest_kind_parse(const char *s, enum store_guest_kind *out);
const char *store_guest_kind_nth(unsigned i);
const char *store_desired_state_name(enum store_desired_state v);
int store_desired_state_parse(const char *s, enum store_desired_state *out);
const char *store_desired_state_nth(unsigned i);
const char *store_observed_state_name(enum store_observed_state v);
int store_observed_state_parse(const char *s, enum store_observed_state *out);
const char *store_observed_state_nth(unsigned i);
const char *store_restart_policy_name(enum store_restart_policy v);
int store_restart_policy_parse(const char *s, enum store_restart_policy *out);
const char *store_restart_policy_nth(unsigned i);
const char *store_cap_state_name(enum store_cap_state v);
int store_cap_state_parse(const char *s, enum store_cap_state *out);
const char *store_cap_state_nth(unsigned i);
const char *store_token_role_name(enum store_token_role v);
int store_token_role_parse(const char *s, enum store_token_role *out);
const char *store_token_role_nth(unsigned i);

#endif /* PVM_STORE_H */
