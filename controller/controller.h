/* SPDX-License-Identifier: MIT */
/*
 * controller: the one owner of the fleet. It builds the scheduler's model of
 * hosts and guests from the store at open, then keeps it in step from the
 * store's event log (never from request handlers), and runs one reconcile
 * loop: place pending guests, mark hosts whose heartbeats stopped
 * unreachable, evacuate unreachable and draining hosts, derive the
 * scheduler's rates from the statistics hosts report, prune old events and
 * idempotency keys.
 *
 * Several controllers may share one store (PostgreSQL, or one SQLite file):
 * every replica follows the event log and answers reads (explain, the
 * fleet's bindings), but only the holder of the leader lease (a row in the
 * store, renewed every heartbeat/2, lost after two heartbeats) reconciles.
 * Every placement is a generation-checked bind the store also checks against
 * the host's free capacity, so even two replicas that both believed they led
 * could neither place one guest twice nor overcommit a host.
 *
 * api/ writes intent into the store (one transaction) and, for a create,
 * waits a bounded time for the controller's decision through the event log
 * (controller_wait_decision), so it works the same whichever replica leads.
 * Public names carry the prefix controller_.
 */
#ifndef PVM_CONTROLLER_H
#define PVM_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

struct store;
struct store_event;
struct store_guest;
struct sched_explain;
struct sched_guest;
struct sched_move;
struct json_object;

struct controller;

/*
 * A host silent for CONTROLLER_UNREACHABLE_BEATS heartbeat intervals is
 * unreachable; its guests stay bound to it (it may only be cut off and still
 * running them) until its lease, CONTROLLER_LEASE_BEATS intervals since its
 * last heartbeat, has run out: only then are they placed elsewhere. A host
 * told the lease (every heartbeat answer's lease_s) stops its guests itself
 * CONTROLLER_FENCE_MARGIN_BEATS intervals before, so no guest runs twice.
 */
#define CONTROLLER_UNREACHABLE_BEATS  3
#define CONTROLLER_LEASE_BEATS	      8
#define CONTROLLER_FENCE_MARGIN_BEATS 3

struct controller_config {
	struct store *store;	  /* borrowed; must outlive the controller */
	unsigned heartbeat_s;	  /* the hosts' heartbeat interval (the beats above); 0: 10 */
	const char *sched_policy; /* sched_policy_parse() text over the default, or NULL */
	const char *replica;	  /* this replica's name in the lease; NULL: host:pid */
};

/* Builds the fleet from the store. Does not start the loop. */
int controller_open(const struct controller_config *cfg, struct controller **out,
		    struct pvm_err *err);
/*
 * Before controller_start: fn is called, under the controller's lock, for
 * every event the controller reads after the fleet took it in (so api/ can
 * drop a token revoked through another replica from its cache). fn must
 * not call back into the controller.
 */
void controller_on_event(struct controller *c, void (*fn)(const struct store_event *ev, void *arg),
			 void *arg);
/* Starts the thread that follows events and, while it leads, reconciles. */
int controller_start(struct controller *c, struct pvm_err *err);
/* Stops the thread (if started), gives up the lease, frees everything. */
void controller_close(struct controller *c);

/*
 * One step of the loop, synchronously, for tests and tools that run without
 * the thread: takes in every new event, then (when this replica holds or
 * can take the lease) runs one reconcile pass. Returns 1 when it led, 0 when
 * it followed, or a negative errno (the store failed).
 */
int controller_step(struct controller *c, struct pvm_err *err);

/* Leadership as this replica last saw it. */
enum controller_role {
	CONTROLLER_UNREADY = 0, /* the store did not answer the last lease attempt */
	CONTROLLER_FOLLOWER,
	CONTROLLER_LEADER,
};
enum controller_role controller_role(struct controller *c);
const char *controller_role_name(enum controller_role r);
/* The replica that holds the lease ("" when none), into buf. */
void controller_leader(struct controller *c, char *buf, size_t len);

/*
 * Waits until the controller has decided on guest_id after event `since`
 * (the last sequence number before the guest was created): the guest was
 * bound, found unschedulable, or deleted. Fills *out with the guest as it is
 * then (also on timeout). 0 decided, -ETIMEDOUT at deadline_ns (monotonic),
 * -ENOENT when the guest is gone, or another negative errno.
 */
int controller_wait_decision(struct controller *c, const char *guest_id, int64_t since,
			     uint64_t deadline_ns, struct store_guest *out, struct pvm_err *err);

/* The scheduler's view of a guest spec (validated by the API); -EINVAL with
 * the field for a selector or combination the scheduler refuses. */
int controller_sched_guest(const char *id, struct json_object *spec, struct sched_guest *out,
			   struct pvm_err *err);

/* A dry run of the scheduler for g, with policy text over the controller's
 * policy (NULL: as is), on the model after every event committed before the
 * call. *out: free with sched_explain_free. -EINVAL with the field "?policy"
 * when the policy text is bad. */
int controller_explain(struct controller *c, const struct sched_guest *g,
		       const char *policy_override, struct sched_explain **out,
		       struct pvm_err *err);

/*
 * The rebalancer's moves (at most max into moves[]), with the fleet's score
 * before and after, on the model after every event committed before the
 * call. With apply, only the leader carries them out (each a
 * generation-checked bind, in order; *applied counts those done); a follower
 * answers -EAGAIN.
 */
int controller_rebalance(struct controller *c, unsigned max, bool apply, struct sched_move *moves,
			 unsigned *n, unsigned *applied, double *before, double *after,
			 struct pvm_err *err);

/* The host a guest is bound to in the fleet, into buf ("" when none). */
void controller_guest_host(struct controller *c, const char *guest_id, char *buf, size_t len);
/* Guests bound to a host in the fleet. */
unsigned controller_nguests(struct controller *c);
/* The last event sequence number the fleet took in. */
int64_t controller_seq(struct controller *c);

/* How a placement attempt of the leader ended. */
enum controller_place_result {
	CONTROLLER_PLACE_BOUND = 0,	/* the store bound the guest to the chosen host */
	CONTROLLER_PLACE_UNSCHEDULABLE, /* no host fits */
	CONTROLLER_PLACE_CONFLICT,	/* the store refused the choice (generation, capacity) */
	CONTROLLER_PLACE_ERROR,		/* the store or the guest's spec failed */
	CONTROLLER_PLACE_NR,
};
/* "bound", "unschedulable", "conflict", "error". */
const char *controller_place_result_name(enum controller_place_result r);
/* Placement attempts this replica made since it opened that ended as r
 * (a guest still pending is tried again on every pass). */
uint64_t controller_placements(struct controller *c, enum controller_place_result r);

/* The event a decision of "no host fits" appends (payload: the reason). */
#define CONTROLLER_EV_UNSCHEDULABLE "guest.unschedulable"

#endif /* PVM_CONTROLLER_H */
