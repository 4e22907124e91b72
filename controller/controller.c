/* SPDX-License-Identifier: MIT */
/*
 * The controller's life and its loop. One step takes in every event since
 * the last, then, on the tick (a quarter of a heartbeat interval), takes or
 * renews the lease and refreshes the rates; while it leads, it places new
 * guests at once and runs a full pass (unreachable hosts, evacuation,
 * pending guests) on the tick or when an event may have freed capacity.
 * Between steps the thread sleeps on the store's event wait, so a commit
 * anywhere wakes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/internal.h"

/* The longest the thread sleeps before it looks at `stopping` again. */
#define WAIT_SLICE_MS 100
#define EVENTS_BATCH  1000
/* Reports carry no event (there would be one per guest per interval): the
 * rates come from reading every latest row this often. */
#define RATES_PERIOD_NS (1000ull * 1000000ull)

uint64_t controller_tick_ns(const struct controller *c)
{
	return (uint64_t)c->cfg.heartbeat_s * 1000000000ull / 4;
}

int controller_open(const struct controller_config *cfg, struct controller **out,
		    struct pvm_err *err)
{
	struct controller *c;
	struct sched_policy pol;
	char host[64] = "";
	int ret;

	*out = NULL;
	if (!cfg->store)
		return pvm_err_set(err, -EINVAL, "controller: no store");
	sched_policy_default(&pol);
	if (cfg->sched_policy && *cfg->sched_policy) {
		ret = sched_policy_parse(cfg->sched_policy, &pol, err);
		if (ret < 0) {
			snprintf(err->field, sizeof(err->field), "sched_policy");
			return pvm_err_prefix(err, "scheduler policy");
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	c->cfg = *cfg;
	if (!c->cfg.heartbeat_s)
		c->cfg.heartbeat_s = 10;
	if (cfg->replica && *cfg->replica) {
		snprintf(c->replica, sizeof(c->replica), "%s", cfg->replica);
	} else {
		gethostname(host, sizeof(host) - 1);
		snprintf(c->replica, sizeof(c->replica), "%s:%d", host, (int)getpid());
	}
	c->cfg.replica = c->replica;
	pthread_mutex_init(&c->lock, NULL);
	ret = controller_rates_new(&c->rates);
	if (ret < 0) {
		pvm_err_set(err, ret, "out of memory");
		goto fail;
	}
	ret = sched_fleet_new(&pol, &c->fleet, err);
	if (ret < 0)
		goto fail;
	ret = controller_fleet_load(c, err);
	if (ret < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	controller_close(c);
	return ret;
}

/* Takes in every event after c->seq (under lock). */
static int follow(struct controller *c, struct pvm_err *err)
{
	struct store_event_list l;
	int ret;

	do {
		ret = store_events_since(c->cfg.store, c->seq, EVENTS_BATCH, &l, err);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < l.n; i++) {
			controller_fleet_apply(c, &l.items[i]);
			if (c->on_event)
				c->on_event(&l.items[i], c->on_event_arg);
		}
		c->seq = l.last_seq;
		store_event_list_free(&l);
	} while (l.n == EVENTS_BATCH);
	return 0;
}

int controller_follow(struct controller *c)
{
	return follow(c, NULL);
}

static int step_locked(struct controller *c, struct pvm_err *err)
{
	uint64_t now = pvm_now_ns();
	bool tick = now >= c->next_tick_ns;
	bool full;
	int ret;

	ret = follow(c, err);
	if (ret < 0) {
		controller_cut_off(c, err && err->msg[0] ? err->msg : "reading events failed");
		return ret;
	}
	if (tick) {
		c->next_tick_ns = now + controller_tick_ns(c);
		controller_lead(c);
	}
	if (now >= c->next_rates_ns) {
		c->next_rates_ns = now + RATES_PERIOD_NS;
		controller_rates_refresh(c);
	}
	full = tick || c->dirty;
	c->dirty = false;
	if (!controller_leading(c)) {
		/* The leader decides on them; this replica only follows. */
		c->nfresh = 0;
		return c->role == CONTROLLER_UNREADY ? -EIO : 0;
	}
	/*
	 * New guests first: a create waits for this decision. Reaping walks
	 * every guest of every unreachable or draining host, so it runs on
	 * ticks and after host events only, not after every event (each guest
	 * it marks unknown is an event: a pass per event would never end on a
	 * large dead host).
	 */
	controller_place_fresh(c);
	if (tick || c->hosts_dirty) {
		c->hosts_dirty = false;
		controller_reap(c);
	}
	if (full)
		controller_place_pending(c);
	return 1;
}

int controller_step(struct controller *c, struct pvm_err *err)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = step_locked(c, err);
	pthread_mutex_unlock(&c->lock);
	if (ret == -EIO && err && !err->msg[0])
		pvm_err_set(err, -EIO, "the store does not answer");
	return ret;
}

static void *loop(void *arg)
{
	struct controller *c = arg;

	while (!atomic_load(&c->stopping)) {
		struct pvm_err err = {0};
		uint64_t now, wait_ms = WAIT_SLICE_MS;
		int64_t seq;
		bool more;

		controller_step(c, &err);
		pthread_mutex_lock(&c->lock);
		seq = c->seq;
		more = c->dirty || c->nfresh;
		now = pvm_now_ns();
		if (c->next_tick_ns > now && (c->next_tick_ns - now) / 1000000 < wait_ms)
			wait_ms = (c->next_tick_ns - now) / 1000000;
		if (c->next_rates_ns > now && (c->next_rates_ns - now) / 1000000 < wait_ms)
			wait_ms = (c->next_rates_ns - now) / 1000000;
		pthread_mutex_unlock(&c->lock);
		if (more)
			continue;
		if (store_events_wait(c->cfg.store, seq, (int64_t)wait_ms, NULL) < 0)
			continue;
	}
	return NULL;
}

void controller_on_event(struct controller *c, void (*fn)(const struct store_event *ev, void *arg),
			 void *arg)
{
	c->on_event = fn;
	c->on_event_arg = arg;
}

int controller_start(struct controller *c, struct pvm_err *err)
{
	int ret = pthread_create(&c->thread, NULL, loop, c);

	if (ret)
		return pvm_err_set(err, -ret, "cannot start the controller thread");
	c->started = true;
	return 0;
}

void controller_close(struct controller *c)
{
	if (!c)
		return;
	if (c->started) {
		atomic_store(&c->stopping, true);
		pthread_join(c->thread, NULL);
	}
	controller_lease_release(c);
	sched_fleet_free(c->fleet);
	controller_rates_free(c->rates);
	free(c->fresh);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

enum controller_role controller_role(struct controller *c)
{
	enum controller_role r;

	pthread_mutex_lock(&c->lock);
	r = c->role == CONTROLLER_LEADER && !controller_leading(c) ? CONTROLLER_FOLLOWER : c->role;
	pthread_mutex_unlock(&c->lock);
	return r;
}

const char *controller_role_name(enum controller_role r)
{
	switch (r) {
	case CONTROLLER_LEADER:
		return "leader";
	case CONTROLLER_FOLLOWER:
		return "follower";
	case CONTROLLER_UNREADY:
		break;
	}
	return "unready";
}

void controller_leader(struct controller *c, char *buf, size_t len)
{
	pthread_mutex_lock(&c->lock);
	snprintf(buf, len, "%s", c->leader);
	pthread_mutex_unlock(&c->lock);
}

/* Whether ev decides guest_id: bound, unschedulable or deleted. */
static bool decides(const struct store_event *ev, const char *guest_id)
{
	return strcmp(ev->subject, guest_id) == 0 &&
	       (strcmp(ev->type, STORE_EV_GUEST_BOUND) == 0 ||
		strcmp(ev->type, CONTROLLER_EV_UNSCHEDULABLE) == 0 ||
		strcmp(ev->type, STORE_EV_GUEST_DELETED) == 0);
}

int controller_wait_decision(struct controller *c, const char *guest_id, int64_t since,
			     uint64_t deadline_ns, struct store_guest *out, struct pvm_err *err)
{
	struct store *st = c->cfg.store;
	bool decided = false;
	int ret;

	while (!decided) {
		struct store_event_list l;
		uint64_t now;

		ret = store_events_since(st, since, EVENTS_BATCH, &l, err);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < l.n && !decided; i++)
			decided = decides(&l.items[i], guest_id);
		since = l.last_seq;
		store_event_list_free(&l);
		now = pvm_now_ns();
		if (decided || now >= deadline_ns || atomic_load(&c->stopping))
			break;
		if (l.n < EVENTS_BATCH) {
			uint64_t ms = (deadline_ns - now + 999999) / 1000000;

			store_events_wait(st, since,
					  (int64_t)(ms < WAIT_SLICE_MS ? ms : WAIT_SLICE_MS), NULL);
		}
	}
	ret = store_guest_get(st, guest_id, out, err);
	if (ret < 0)
		return ret;
	return decided ? 0 : -ETIMEDOUT;
}

int controller_explain(struct controller *c, const struct sched_guest *g,
		       const char *policy_override, struct sched_explain **out, struct pvm_err *err)
{
	struct sched_policy pol;
	int ret;

	pthread_mutex_lock(&c->lock);
	/*
	 * The loop takes in events when its thread runs next; a request that
	 * follows a write (a host registered, a heartbeat) must see it. A store
	 * that does not answer leaves the model as last read.
	 */
	follow(c, NULL);
	pol = *sched_fleet_policy(c->fleet);
	ret = policy_override ? sched_policy_parse(policy_override, &pol, err) : 0;
	if (ret < 0)
		snprintf(err->field, sizeof(err->field), "?policy");
	else
		ret = sched_fleet_explain(c->fleet, g, &pol, out, err);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static int apply_moves(struct controller *c, const struct sched_move *moves, unsigned n,
		       unsigned *applied, struct pvm_err *err)
{
	for (unsigned i = 0; i < n; i++) {
		struct store_guest g;
		char why[96];
		int ret;

		if (!controller_leading(c))
			return pvm_err_set(err, -EAGAIN, "this controller lost the lead");
		snprintf(why, sizeof(why), "{\"rebalance_delta\":%.6g,\"plan\":%u}", moves[i].delta,
			 moves[i].plan);
		ret =
		    store_guest_bind(c->cfg.store, moves[i].guest_id, 0, moves[i].to, why, &g, err);
		if (ret < 0)
			return ret;
		controller_fleet_bind(c, &g);
		store_guest_free(&g);
		(*applied)++;
	}
	return 0;
}

int controller_rebalance(struct controller *c, unsigned max, bool apply, struct sched_move *moves,
			 unsigned *n, unsigned *applied, double *before, double *after,
			 struct pvm_err *err)
{
	int ret;

	*applied = 0;
	pthread_mutex_lock(&c->lock);
	follow(c, NULL); /* as explain does */
	if (apply && !controller_leading(c)) {
		ret = pvm_err_set(err, -EAGAIN, "only the leader applies moves (the leader is %s)",
				  c->leader[0] ? c->leader : "not known yet");
		goto out;
	}
	ret = sched_fleet_rebalance(c->fleet, NULL, max, false, moves, n, before, after, err);
	if (ret == 0 && apply)
		ret = apply_moves(c, moves, *n, applied, err);
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void controller_guest_host(struct controller *c, const char *guest_id, char *buf, size_t len)
{
	const char *h;

	pthread_mutex_lock(&c->lock);
	h = sched_fleet_guest_host(c->fleet, guest_id);
	snprintf(buf, len, "%s", h ? h : "");
	pthread_mutex_unlock(&c->lock);
}

unsigned controller_nguests(struct controller *c)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = sched_fleet_nguests(c->fleet);
	pthread_mutex_unlock(&c->lock);
	return n;
}

int64_t controller_seq(struct controller *c)
{
	int64_t s;

	pthread_mutex_lock(&c->lock);
	s = c->seq;
	pthread_mutex_unlock(&c->lock);
	return s;
}

const char *controller_place_result_name(enum controller_place_result r)
{
	static const char *const names[CONTROLLER_PLACE_NR] = {
	    [CONTROLLER_PLACE_BOUND] = "bound",
	    [CONTROLLER_PLACE_UNSCHEDULABLE] = "unschedulable",
	    [CONTROLLER_PLACE_CONFLICT] = "conflict",
	    [CONTROLLER_PLACE_ERROR] = "error",
	};

	return r < CONTROLLER_PLACE_NR ? names[r] : "?";
}

uint64_t controller_placements(struct controller *c, enum controller_place_result r)
{
	return r < CONTROLLER_PLACE_NR ? atomic_load(&c->placements[r]) : 0;
}
