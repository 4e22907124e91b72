/* SPDX-License-Identifier: MIT */
/*
 * The controller's background loop: hosts that miss three heartbeat
 * intervals become unreachable (the store appends the event); guests on
 * unreachable or draining hosts are evacuated; pending guests that want to
 * run are placed again. Runs every heartbeat interval, or sooner when kicked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "schedulers/sched.h"
#include "store/store.h"

/* Mirrors every host into the fleet; returns the ids of hosts to empty. */
static char (*refresh_hosts(struct api_server *srv, size_t *nout))[STORE_ID_MAX]
{
	char(*out)[STORE_ID_MAX] = NULL;
	char next[STORE_ID_MAX] = "";
	size_t n = 0, cap = 0;

	do {
		struct store_list_opts o = {.after = next[0] ? next : NULL,
					    .limit = STORE_LIST_MAX};
		struct store_host_list l = {0};

		if (store_host_list(srv->cfg.store, &o, &l, NULL) < 0)
			break;
		for (size_t i = 0; i < l.n; i++) {
			api_fleet_host_sync(srv, &l.items[i]);
			if (l.items[i].state != STORE_HOST_UNREACHABLE && !l.items[i].draining)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				char(*p)[STORE_ID_MAX] = realloc(out, ncap * sizeof(*out));

				if (!p)
					continue;
				out = p;
				cap = ncap;
			}
			memcpy(out[n++], l.items[i].id, STORE_ID_MAX);
		}
		snprintf(next, sizeof(next), "%s", l.next);
		store_host_list_free(&l);
	} while (next[0]);
	*nout = n;
	return out;
}

/*
 * Moves the guests of an unreachable or draining host to hosts the
 * scheduler picks. A guest no host can take stays where it is and is tried
 * again on the next pass, so it never loses its place for nothing.
 */
static void evacuate(struct api_server *srv, const char *host_id)
{
	const struct sched_host *h = sched_fleet_host(srv->fleet, host_id);
	bool unreachable = h && h->state != SCHED_HOST_READY;
	char next[STORE_ID_MAX] = "";

	do {
		struct store_list_opts o = {
		    .after = next[0] ? next : NULL, .limit = STORE_LIST_MAX, .host_id = host_id};
		struct store_guest_list l = {0};

		if (store_guest_list(srv->cfg.store, &o, &l, NULL) < 0)
			return;
		for (size_t i = 0; i < l.n; i++) {
			struct store_guest *g = &l.items[i];
			struct pvm_err err = {0};

			if (g->desired_state != STORE_DESIRED_RUNNING)
				continue;
			sched_fleet_unbind(srv->fleet, g->id);
			if (api_place(srv, g, false, &err) == 0) {
				pvm_log_info("api: moved guest %s from host %s to host %s", g->id,
					     host_id, g->host_id);
			} else {
				pvm_log_debug("api: guest %s stays on host %s: %s", g->id, host_id,
					      err.msg);
				api_fleet_bind(srv, g);
				/* Nobody knows how a guest of a silent host is doing. */
				if (unreachable && g->observed_state != STORE_OBSERVED_UNKNOWN)
					store_guest_set_observed(srv->cfg.store, g->id,
								 STORE_OBSERVED_UNKNOWN, NULL,
								 NULL);
			}
		}
		snprintf(next, sizeof(next), "%s", l.next);
		store_guest_list_free(&l);
	} while (next[0]);
}

static void place_pending(struct api_server *srv)
{
	struct store_list_opts o = {.unbound = true, .limit = STORE_LIST_MAX};
	struct store_guest_list l = {0};

	if (store_guest_list(srv->cfg.store, &o, &l, NULL) < 0)
		return;
	for (size_t i = 0; i < l.n; i++) {
		struct pvm_err err = {0};

		if (l.items[i].desired_state == STORE_DESIRED_RUNNING && !l.items[i].host_id[0])
			api_place(srv, &l.items[i], false, &err);
	}
	store_guest_list_free(&l);
}

/* Events are kept a day (watchers resume from a sequence number within it). */
#define EVENT_RETENTION_MS (24ll * 3600 * 1000)
#define PRUNE_PERIOD_NS	   (60ull * 1000000000ull)

static void prune(struct api_server *srv, int64_t now_ms)
{
	struct pvm_err err = {0};
	uint64_t now = pvm_now_ns();

	if (srv->last_prune_ns && now - srv->last_prune_ns < PRUNE_PERIOD_NS)
		return;
	srv->last_prune_ns = now;
	if (store_idem_prune(srv->cfg.store, now_ms, &err) < 0 ||
	    store_events_prune(srv->cfg.store, now_ms - EVENT_RETENTION_MS, &err) < 0)
		pvm_log_warn("api: pruning the store: %s", err.msg);
}

static void pass(struct api_server *srv)
{
	int64_t now_ms = (int64_t)(pvm_wall_ns() / 1000000);
	int64_t cutoff = now_ms - 3 * (int64_t)srv->cfg.heartbeat_s * 1000;
	char(*evac)[STORE_ID_MAX];
	struct pvm_err err = {0};
	size_t nevac;
	int n;

	n = store_host_mark_unreachable(srv->cfg.store, cutoff, &err);
	if (n < 0)
		pvm_log_warn("api: marking unreachable hosts: %s", err.msg);
	else if (n > 0)
		pvm_log_warn("api: %d host(s) missed 3 heartbeats: unreachable", n);
	prune(srv, now_ms);
	pthread_mutex_lock(&srv->place_lock);
	evac = refresh_hosts(srv, &nevac);
	for (size_t i = 0; i < nevac; i++)
		evacuate(srv, evac[i]);
	free(evac);
	place_pending(srv);
	pthread_mutex_unlock(&srv->place_lock);
}

static void *reaper_main(void *arg)
{
	struct api_server *srv = arg;

	pthread_mutex_lock(&srv->reaper_lock);
	while (!atomic_load(&srv->stopping)) {
		struct timespec ts;
		uint64_t period_ms = srv->cfg.heartbeat_s * 1000ull / 2;

		pthread_mutex_unlock(&srv->reaper_lock);
		pass(srv);
		pthread_mutex_lock(&srv->reaper_lock);
		if (srv->reaper_kicked || atomic_load(&srv->stopping)) {
			srv->reaper_kicked = false;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(period_ms / 1000);
		ts.tv_nsec += (long)(period_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!srv->reaper_kicked && !atomic_load(&srv->stopping) &&
		       pthread_cond_timedwait(&srv->reaper_cond, &srv->reaper_lock, &ts) == 0)
			;
		srv->reaper_kicked = false;
	}
	pthread_mutex_unlock(&srv->reaper_lock);
	return NULL;
}

int api_reaper_start(struct api_server *srv, struct pvm_err *err)
{
	pthread_condattr_t ca;
	int ret;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&srv->reaper_cond);
	pthread_cond_init(&srv->reaper_cond, &ca);
	pthread_condattr_destroy(&ca);
	ret = pthread_create(&srv->reaper, NULL, reaper_main, srv);
	if (ret)
		return pvm_err_set(err, -ret, "cannot start the reaper thread");
	srv->reaper_started = true;
	return 0;
}

void api_reaper_kick(struct api_server *srv)
{
	pthread_mutex_lock(&srv->reaper_lock);
	srv->reaper_kicked = true;
	pthread_cond_signal(&srv->reaper_cond);
	pthread_mutex_unlock(&srv->reaper_lock);
}

void api_reaper_stop(struct api_server *srv)
{
	if (!srv->reaper_started)
		return;
	api_reaper_kick(srv);
	pthread_join(srv->reaper, NULL);
	srv->reaper_started = false;
}
