/* SPDX-License-Identifier: MIT */
/*
 * The leader lease: one row in the store's key/value table, read and
 * written in one write transaction (the store serialises writers across
 * processes, on SQLite by its write lock and on PostgreSQL by an advisory
 * lock), so taking it is a compare-and-set. The row holds the holder's name,
 * a term that grows by one with every change of holder, and an expiry in
 * wall-clock ms: replicas must keep their clocks in step (NTP) to well
 * under a heartbeat. The holder renews every tick; the others try every
 * tick and take it once it has expired, so a dead leader is replaced within
 * LEASE_HEARTBEATS heartbeats plus one tick. A holder stops acting at its
 * own monotonic deadline, a margin before the expiry the others go by.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "controller/internal.h"

#define LEASE_NS  "controller"
#define LEASE_KEY "leader"
/* The lease lasts this many heartbeat intervals from its last renewal. */
#define LEASE_HEARTBEATS 1.5

struct lease {
	char holder[STORE_NAME_MAX];
	int64_t term;
	int64_t expires_ms;
};

static int lease_decode(const char *text, struct lease *l)
{
	json_object *o = json_tokener_parse(text);
	const char *h;
	int ret = -EINVAL;

	memset(l, 0, sizeof(*l));
	if (o && pvm_json_get_str(o, "holder", &h) == 0 &&
	    pvm_json_get_int(o, "term", &l->term) == 0 &&
	    pvm_json_get_int(o, "expires_ms", &l->expires_ms) == 0) {
		snprintf(l->holder, sizeof(l->holder), "%s", h);
		ret = 0;
	}
	json_object_put(o);
	return ret;
}

static char *lease_encode(const struct lease *l)
{
	json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "holder", json_object_new_string(l->holder));
	json_object_object_add(o, "term", json_object_new_int64(l->term));
	json_object_object_add(o, "expires_ms", json_object_new_int64(l->expires_ms));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static int64_t lease_ms(const struct controller *c)
{
	return (int64_t)(LEASE_HEARTBEATS * c->cfg.heartbeat_s * 1000);
}

/* One compare-and-set: 1 when this replica holds the lease now, 0 not. */
static int lease_try(struct controller *c, struct lease *seen, struct pvm_err *err)
{
	struct store *st = c->cfg.store;
	int64_t now = (int64_t)(pvm_wall_ns() / 1000000);
	char *text = NULL;
	struct lease l;
	int ret;

	ret = store_tx_begin(st, err);
	if (ret < 0)
		return ret;
	ret = store_kv_get(st, LEASE_NS, LEASE_KEY, &text, err);
	if (ret == -ENOENT || (ret == 0 && lease_decode(text, &l) < 0)) {
		memset(&l, 0, sizeof(l));
		ret = 0;
	}
	free(text);
	text = NULL;
	if (ret < 0)
		goto fail;
	*seen = l;
	if (strcmp(l.holder, c->replica) != 0 && l.expires_ms > now) {
		store_tx_rollback(st);
		return 0;
	}
	if (strcmp(l.holder, c->replica) != 0) {
		snprintf(l.holder, sizeof(l.holder), "%s", c->replica);
		l.term++;
	}
	l.expires_ms = now + lease_ms(c);
	text = lease_encode(&l);
	ret = text ? store_kv_put(st, LEASE_NS, LEASE_KEY, text, err) : -ENOMEM;
	free(text);
	if (ret < 0)
		goto fail;
	ret = store_tx_commit(st, err);
	if (ret < 0)
		return ret;
	*seen = l;
	return 1;
fail:
	store_tx_rollback(st);
	return ret;
}

void controller_cut_off(struct controller *c, const char *why)
{
	if (c->role != CONTROLLER_UNREADY)
		pvm_log_warn("controller: the store does not answer: %s", why);
	c->role = CONTROLLER_UNREADY;
	c->lease_until_ns = 0;
}

bool controller_lead(struct controller *c)
{
	uint64_t start = pvm_now_ns();
	struct pvm_err err = {0};
	struct lease seen = {0};
	enum controller_role was = c->role;
	int ret = lease_try(c, &seen, &err);

	if (ret < 0) {
		controller_cut_off(c, err.msg);
		return false;
	}
	snprintf(c->leader, sizeof(c->leader), "%s", seen.holder);
	if (ret == 0) {
		if (was == CONTROLLER_LEADER)
			pvm_log_warn("controller: %s took the lease (term %lld); following",
				     seen.holder, (long long)seen.term);
		c->role = CONTROLLER_FOLLOWER;
		c->lease_until_ns = 0;
		return false;
	}
	if (was != CONTROLLER_LEADER)
		pvm_log_info("controller: %s leads (term %lld)", c->replica, (long long)seen.term);
	c->role = CONTROLLER_LEADER;
	c->term = seen.term;
	/* Measured from before the attempt, and a tick short of the expiry the
	 * others see, so this replica stops first. */
	c->lease_until_ns = start + (uint64_t)lease_ms(c) * 1000000ull - controller_tick_ns(c);
	return true;
}

bool controller_leading(struct controller *c)
{
	return c->role == CONTROLLER_LEADER && pvm_now_ns() < c->lease_until_ns;
}

void controller_lease_release(struct controller *c)
{
	struct store *st = c->cfg.store;
	struct pvm_err err = {0};
	char *text = NULL;
	struct lease l;

	if (c->role != CONTROLLER_LEADER)
		return;
	/* Expire it at once so a successor need not wait out the lease. */
	if (store_tx_begin(st, &err) < 0)
		return;
	if (store_kv_get(st, LEASE_NS, LEASE_KEY, &text, &err) == 0 &&
	    lease_decode(text, &l) == 0 && strcmp(l.holder, c->replica) == 0) {
		free(text);
		l.expires_ms = 0;
		text = lease_encode(&l);
		if (text && store_kv_put(st, LEASE_NS, LEASE_KEY, text, &err) == 0) {
			free(text);
			store_tx_commit(st, &err);
			c->role = CONTROLLER_FOLLOWER;
			return;
		}
	}
	free(text);
	store_tx_rollback(st);
}
