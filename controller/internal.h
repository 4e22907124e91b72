/* SPDX-License-Identifier: MIT */
/* Private to controller/. */
#ifndef PVM_CONTROLLER_INTERNAL_H
#define PVM_CONTROLLER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "controller/controller.h"
#include "schedulers/sched.h"
#include "store/store.h"

struct controller_rates; /* rates.c */

struct controller {
	struct controller_config cfg;
	char replica[STORE_NAME_MAX];
	void (*on_event)(const struct store_event *ev, void *arg);
	void *on_event_arg;

	/* The fleet and everything derived from events; held only while one
	 * step, one explain or one rebalance computes, never across a request. */
	pthread_mutex_t lock;
	struct sched_fleet *fleet;
	int64_t seq; /* the last event the fleet took in */
	/* Guests created since the last pass: their first decision is recorded
	 * (an "unschedulable" placement and event) so a waiting create hears it. */
	char (*fresh)[STORE_ID_MAX];
	size_t nfresh, capfresh;
	bool dirty;	  /* an event may have freed capacity: a full pass before the tick */
	bool hosts_dirty; /* a host event since the last reaping pass */
	struct controller_rates *rates;
	/* Written under lock, read by /metrics without it. */
	atomic_uint_fast64_t placements[CONTROLLER_PLACE_NR];
	uint64_t next_tick_ns, next_rates_ns, last_prune_ns;

	/* Leadership (leader.c), under lock. */
	enum controller_role role;
	uint64_t lease_until_ns; /* monotonic: stop acting after this */
	int64_t term;
	char leader[STORE_NAME_MAX];

	pthread_t thread;
	bool started;
	atomic_bool stopping;
};

/* The tick: passes, lease renewal and rates run at least this often. */
uint64_t controller_tick_ns(const struct controller *c);

/* walk.c: fn for every host / every guest opts select (after and limit are
 * the walk's), page by page; a non-zero return stops it (> 0: not an error). */
typedef int (*controller_host_fn)(struct controller *c, struct store_host *h, void *arg);
typedef int (*controller_guest_fn)(struct controller *c, struct store_guest *g, void *arg);
int controller_each_host(struct controller *c, controller_host_fn fn, void *arg,
			 struct pvm_err *err);
int controller_each_guest(struct controller *c, const struct store_list_opts *opts,
			  controller_guest_fn fn, void *arg, struct pvm_err *err);

/* fleet.c: the model, from the store and its events (under lock). */
int controller_fleet_load(struct controller *c, struct pvm_err *err);
int controller_fleet_apply(struct controller *c, const struct store_event *ev);
int controller_fleet_bind(struct controller *c, const struct store_guest *g);
/* The scheduler's view of a stored guest: its spec, its row's resources. */
int controller_guest_of_row(const struct store_guest *g, struct sched_guest *out,
			    struct pvm_err *err);
void controller_sched_host(const struct store_host *h, struct sched_host *out);

/* place.c (leader, under lock): one guest; 0 bound, -ENOSPC, other errors. */
int controller_place(struct controller *c, struct store_guest *g, bool record, struct pvm_err *err);
/* Guests created since the last pass, their decision recorded. */
void controller_place_fresh(struct controller *c);
/* Every guest that wants to run and has no host (capacity may have grown). */
void controller_place_pending(struct controller *c);

/* reap.c (leader, under lock): unreachable hosts, evacuation, pruning. */
void controller_reap(struct controller *c);

/* rates.c (under lock): reported counters into the scheduler's rates. */
int controller_rates_new(struct controller_rates **out);
void controller_rates_free(struct controller_rates *r);
void controller_rates_refresh(struct controller *c);
/* The guest's last derived rates into *out (left alone when none). */
void controller_rates_get(struct controller *c, const char *guest_id, struct sched_hook_stats *out);

/* controller.c: takes in every new event (under lock). */
int controller_follow(struct controller *c);

/* leader.c: takes or renews the lease; true while this replica may act. */
bool controller_lead(struct controller *c);
/* The store failed (why): acts no more, whatever the lease says; logged once
 * per outage. */
void controller_cut_off(struct controller *c, const char *why);
void controller_lease_release(struct controller *c);
bool controller_leading(struct controller *c);

/* A JSON text with one string member, for explanations (caller frees). */
char *controller_json_reason(const char *key, const char *value);

#endif /* PVM_CONTROLLER_INTERNAL_H */
