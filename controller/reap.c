/* SPDX-License-Identifier: MIT */
/*
 * The leader's housekeeping, under c->lock: hosts that missed three
 * heartbeat intervals become unreachable (the store appends the event);
 * guests on draining hosts, and on unreachable ones whose lease ran out
 * (controller.h), move to hosts the scheduler picks;
 * old events and idempotency keys are pruned.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"

struct id_list {
	char (*v)[STORE_ID_MAX];
	size_t n, cap;
	int64_t lease_cutoff_ms; /* an unreachable host heard from later is in its lease */
};

/*
 * Collects the hosts to empty, from the store (the truth), not the fleet:
 * draining ones, and unreachable ones whose lease has run out.
 */
static int to_empty(struct controller *c, struct store_host *h, void *arg)
{
	struct id_list *l = arg;

	(void)c;
	if (!h->draining &&
	    (h->state != STORE_HOST_UNREACHABLE || h->last_heartbeat_ms >= l->lease_cutoff_ms))
		return 0;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		char(*p)[STORE_ID_MAX] = realloc(l->v, ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = ncap;
	}
	memcpy(l->v[l->n++], h->id, STORE_ID_MAX);
	return 0;
}

/*
 * Moves the guests of an unreachable or draining host. A guest no host can
 * take stays where it is and is tried again on the next pass, so it never
 * loses its place for nothing.
 */
struct evacuation {
	const char *host_id;
	bool unreachable;
};

static int evacuate_one(struct controller *c, struct store_guest *g, void *arg)
{
	const struct evacuation *ev = arg;
	struct pvm_err err = {0};

	if (!controller_leading(c))
		return 1;
	if (g->desired_state != STORE_DESIRED_RUNNING)
		return 0;
	/* Not a candidate for its own host's capacity. */
	sched_fleet_unbind(c->fleet, g->id);
	if (controller_place(c, g, false, &err) == 0) {
		pvm_log_info("controller: moved guest %s from host %s to host %s", g->id,
			     ev->host_id, g->host_id);
		return 0;
	}
	pvm_log_debug("controller: guest %s stays on host %s: %s", g->id, ev->host_id, err.msg);
	controller_fleet_bind(c, g);
	/* Nobody knows how a guest of a silent host is doing. */
	if (ev->unreachable && g->observed_state != STORE_OBSERVED_UNKNOWN)
		store_guest_set_observed(c->cfg.store, g->id, STORE_OBSERVED_UNKNOWN, NULL, NULL);
	return 0;
}

static void evacuate(struct controller *c, const char *host_id)
{
	const struct sched_host *h = sched_fleet_host(c->fleet, host_id);
	struct evacuation ev = {.host_id = host_id,
				.unreachable = h && h->state != SCHED_HOST_READY};

	controller_each_guest(c, &(struct store_list_opts){.host_id = host_id}, evacuate_one, &ev,
			      NULL);
}

/* Events are kept a day (watchers resume from a sequence number within it). */
#define EVENT_RETENTION_MS (24ll * 3600 * 1000)
#define PRUNE_PERIOD_NS	   (60ull * 1000000000ull)

static void prune(struct controller *c, int64_t now_ms)
{
	struct pvm_err err = {0};
	uint64_t now = pvm_now_ns();

	if (c->last_prune_ns && now - c->last_prune_ns < PRUNE_PERIOD_NS)
		return;
	c->last_prune_ns = now;
	if (store_idem_prune(c->cfg.store, now_ms, &err) < 0 ||
	    store_events_prune(c->cfg.store, now_ms - EVENT_RETENTION_MS, &err) < 0)
		pvm_log_warn("controller: pruning the store: %s", err.msg);
}

void controller_reap(struct controller *c)
{
	int64_t now_ms = (int64_t)(pvm_wall_ns() / 1000000);
	int64_t beat_ms = (int64_t)c->cfg.heartbeat_s * 1000;
	int64_t cutoff = now_ms - CONTROLLER_UNREACHABLE_BEATS * beat_ms;
	struct id_list evac = {.lease_cutoff_ms = now_ms - CONTROLLER_LEASE_BEATS * beat_ms};
	struct pvm_err err = {0};
	int n;

	n = store_host_mark_unreachable(c->cfg.store, cutoff, &err);
	if (n < 0)
		pvm_log_warn("controller: marking unreachable hosts: %s", err.msg);
	else if (n > 0)
		pvm_log_warn("controller: %d host(s) missed 3 heartbeats: unreachable", n);
	/* The fleet must see them unreachable before it picks new hosts. */
	if (n > 0)
		controller_follow(c);
	prune(c, now_ms);
	/* Out of memory for the list: the hosts collected so far are emptied. */
	controller_each_host(c, to_empty, &evac, NULL);
	for (size_t i = 0; i < evac.n && controller_leading(c); i++)
		evacuate(c, evac.v[i]);
	free(evac.v);
}
