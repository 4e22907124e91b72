/* SPDX-License-Identifier: MIT */
/* Capabilities: hooks a host offers, and what each guest negotiated. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

struct caps_queries {
	const char *what;
	struct store_query exists;
	struct store_query clear;
	struct store_query insert;
	struct store_query select;
};

static struct caps_queries host_q = {
    .what = "host",
    .exists = STORE_QUERY("SELECT 1 FROM hosts WHERE id = ?"),
    .clear = STORE_QUERY("DELETE FROM host_caps WHERE host_id = ?"),
    .insert = STORE_QUERY("INSERT INTO host_caps (host_id, name, state, abi_version, reason) "
			  "VALUES (?, ?, ?, ?, ?)"),
    .select = STORE_QUERY("SELECT name, state, abi_version, reason FROM host_caps "
			  "WHERE host_id = ? ORDER BY name"),
};

static struct caps_queries guest_q = {
    .what = "guest",
    .exists = STORE_QUERY("SELECT 1 FROM guests WHERE id = ?"),
    .clear = STORE_QUERY("DELETE FROM guest_caps WHERE guest_id = ?"),
    .insert = STORE_QUERY("INSERT INTO guest_caps (guest_id, name, state, abi_version, reason) "
			  "VALUES (?, ?, ?, ?, ?)"),
    .select = STORE_QUERY("SELECT name, state, abi_version, reason FROM guest_caps "
			  "WHERE guest_id = ? ORDER BY name"),
};

static int owner_exists(struct store_ctx *x, struct caps_queries *q, const char *id)
{
	void *st;
	int ret;

	ret = store_db_stmt(x, &q->exists, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, id);
	ret = store_db_step(x, st);
	if (ret == 0)
		return pvm_err_set(x->err, -ENOENT, "%s %s not found", q->what, id);
	return ret < 0 ? ret : 0;
}

static int caps_set(struct store *s, struct caps_queries *q, const char *id,
		    const struct store_cap *caps, size_t n, struct pvm_err *err)
{
	struct store_ctx x;
	char field[32];
	size_t i;
	void *st;
	int ret;

	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret < 0)
		return ret;
	for (i = 0; i < n; i++) {
		snprintf(field, sizeof(field), "caps[%zu].name", i);
		ret = store_check_str(caps[i].name, sizeof(caps[i].name), field, err);
		if (ret < 0)
			return ret;
		if ((unsigned)caps[i].state > STORE_CAP_REFUSED)
			return pvm_err_field(err, -EINVAL, field, "%s: invalid state %d",
					     caps[i].name, caps[i].state);
	}
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = owner_exists(&x, q, id);
	if (ret == 0)
		ret = store_db_stmt(&x, &q->clear, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, id);
		ret = store_db_run(&x, st);
	}
	for (i = 0; ret == 0 && i < n; i++) {
		ret = store_db_stmt(&x, &q->insert, &st);
		if (ret < 0)
			break;
		store_db_bind_text(&x, st, 1, id);
		store_db_bind_text(&x, st, 2, caps[i].name);
		store_db_bind_text(&x, st, 3, store_cap_state_name(caps[i].state));
		store_db_bind_int(&x, st, 4, caps[i].abi_version);
		store_db_bind_text(&x, st, 5,
				   strnlen(caps[i].reason, sizeof(caps[i].reason)) <
					   sizeof(caps[i].reason)
				       ? caps[i].reason
				       : "");
		ret = store_db_run(&x, st);
		if (ret == -EEXIST)
			ret = pvm_err_set(err, -EEXIST, "capability '%s' is listed twice",
					  caps[i].name);
	}
	return store_ctx_end(&x, ret);
}

static int caps_get(struct store *s, struct caps_queries *q, const char *id, struct store_cap **out,
		    size_t *n, struct pvm_err *err)
{
	struct store_cap *caps = NULL;
	size_t cap = 0, count = 0;
	struct store_ctx x;
	void *st;
	int ret;

	*out = NULL;
	*n = 0;
	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = owner_exists(&x, q, id);
	if (ret == 0)
		ret = store_db_stmt(&x, &q->select, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, id);
	while ((ret = store_db_step(&x, st)) > 0) {
		struct store_cap *c;

		if (store_grow((void **)&caps, &cap, count, sizeof(*caps)) < 0) {
			ret = pvm_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		c = &caps[count++];
		store_db_copy(&x, st, 0, c->name, sizeof(c->name));
		if (store_cap_state_parse(store_db_text(&x, st, 1), &c->state) < 0)
			c->state = STORE_CAP_REFUSED;
		c->abi_version = store_db_int(&x, st, 2);
		store_db_copy(&x, st, 3, c->reason, sizeof(c->reason));
	}
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0) {
		free(caps);
		return ret;
	}
	*out = caps;
	*n = count;
	return 0;
}

int store_host_caps_set(struct store *s, const char *host_id, const struct store_cap *caps,
			size_t n, struct pvm_err *err)
{
	return caps_set(s, &host_q, host_id, caps, n, err);
}

int store_guest_caps_set(struct store *s, const char *guest_id, const struct store_cap *caps,
			 size_t n, struct pvm_err *err)
{
	return caps_set(s, &guest_q, guest_id, caps, n, err);
}

int store_host_caps_get(struct store *s, const char *host_id, struct store_cap **out, size_t *n,
			struct pvm_err *err)
{
	return caps_get(s, &host_q, host_id, out, n, err);
}

int store_guest_caps_get(struct store *s, const char *guest_id, struct store_cap **out, size_t *n,
			 struct pvm_err *err)
{
	return caps_get(s, &guest_q, guest_id, out, n, err);
}
