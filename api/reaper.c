/* SPDX-License-Identifier: MIT */
/*
 * The controller's background loop: hosts that miss three heartbeat
 * intervals become unreachable (the store appends the event); guests on
 * unreachable or draining hosts are evacuated; pending guests that want to
 * run are placed again. Runs every heartbeat interval, or sooner when kicked.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "schedulers/sched.h"
#include "store/store.h"

static void refresh_hosts(struct api_server *srv, bool *evacuate_any)
{
	char next[STORE_ID_MAX] = "";

	*evacuate_any = false;
	do {
		struct store_list_opts o = {.after = next[0] ? next : NULL,
					    .limit = STORE_LIST_MAX};
		struct store_host_list l = {0};

		if (store_host_list(srv->cfg.store, &o, &l, NULL) < 0)
			return;
		for (size_t i = 0; i < l.n; i++) {
			api_fleet_host_sync(srv, &l.items[i]);
			if (l.items[i].state == STORE_HOST_UNREACHABLE || l.items[i].draining)
				*evacuate_any = true;
		}
		snprintf(next, sizeof(next), "%s", l.next);
		store_host_list_free(&l);
	} while (next[0]);
}

/* Moves guests off hosts that cannot keep them; one page per pass. */
static void evacuate(struct api_server *srv)
{
	struct store_list_opts o = {.limit = STORE_LIST_MAX};
	struct store_guest_list l = {0};

	if (store_guest_list(srv->cfg.store, &o, &l, NULL) < 0)
		return;
	for (size_t i = 0; i < l.n; i++) {
		struct store_guest *g = &l.items[i], moved;
		const struct sched_host *h;
		struct pvm_err err = {0};

		if (!g->host_id[0])
			continue;
		h = sched_fleet_host(srv->fleet, g->host_id);
		if (!h || (h->state == SCHED_HOST_READY && !h->draining))
			continue;
		if (store_guest_unbind(srv->cfg.store, g->id, 0, &moved, &err) < 0) {
			pvm_log_warn("api: evacuating guest %s: %s", g->id, err.msg);
			continue;
		}
		store_guest_free(g);
		*g = moved;
		sched_fleet_unbind(srv->fleet, g->id);
		if (g->desired_state != STORE_DESIRED_RUNNING)
			continue;
		if (api_place(srv, g, false, &err) == 0)
			pvm_log_info("api: evacuated guest %s to host %s", g->id, g->host_id);
		else
			pvm_log_warn("api: guest %s left its host and waits: %s", g->id, err.msg);
	}
	store_guest_list_free(&l);
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

static void pass(struct api_server *srv)
{
	int64_t now_ms = (int64_t)(pvm_wall_ns() / 1000000);
	int64_t cutoff = now_ms - 3 * (int64_t)srv->cfg.heartbeat_s * 1000;
	struct pvm_err err = {0};
	bool evac;
	int n;

	n = store_host_mark_unreachable(srv->cfg.store, cutoff, &err);
	if (n < 0)
		pvm_log_warn("api: marking unreachable hosts: %s", err.msg);
	else if (n > 0)
		pvm_log_warn("api: %d host(s) missed 3 heartbeats: unreachable", n);
	pthread_mutex_lock(&srv->place_lock);
	refresh_hosts(srv, &evac);
	if (evac)
		evacuate(srv);
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
