/* SPDX-License-Identifier: MIT */
/* A small namespaced key/value table: host daemons' local state. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

static struct store_query q_put = STORE_QUERY(
    "INSERT INTO kv (ns, key, value, updated_ms) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms");
static struct store_query q_get = STORE_QUERY("SELECT value FROM kv WHERE ns = ? AND key = ?");
static struct store_query q_delete =
    STORE_QUERY("DELETE FROM kv WHERE ns = ? AND key = ? RETURNING key");
static struct store_query q_all =
    STORE_QUERY("SELECT key, value FROM kv WHERE ns = ? ORDER BY key");

static int kv_check(const char *ns, const char *key, struct pvm_err *err)
{
	int ret = store_check_str(ns, STORE_NAME_MAX, "ns", err);

	if (ret == 0 && key)
		ret = store_check_str(key, STORE_KEY_MAX, "key", err);
	return ret;
}

int store_kv_put(struct store *s, const char *ns, const char *key, const char *value,
		 struct pvm_err *err)
{
	struct store_ctx x;
	void *st;
	int ret;

	ret = kv_check(ns, key, err);
	if (ret == 0 && !value)
		ret = pvm_err_field(err, -EINVAL, "value", "value is missing");
	if (ret == 0)
		ret = store_check_json(value, false, "value", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_put, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, ns);
		store_db_bind_text(&x, st, 2, key);
		store_db_bind_text(&x, st, 3, value);
		store_db_bind_int(&x, st, 4, store_now_ms());
		ret = store_db_run(&x, st);
	}
	return store_ctx_end(&x, ret);
}

int store_kv_get(struct store *s, const char *ns, const char *key, char **value,
		 struct pvm_err *err)
{
	struct store_ctx x;
	void *st;
	int ret;

	*value = NULL;
	ret = kv_check(ns, key, err);
	if (ret < 0)
		return ret;
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_get, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, ns);
		store_db_bind_text(&x, st, 2, key);
		ret = store_db_step(&x, st);
		if (ret == 0)
			ret = pvm_err_set(err, -ENOENT, "%s/%s not found", ns, key);
		else if (ret > 0)
			ret = store_db_dup(&x, st, 0, value);
	}
	return store_ctx_end(&x, ret);
}

int store_kv_delete(struct store *s, const char *ns, const char *key, struct pvm_err *err)
{
	struct store_ctx x;
	void *st;
	int ret;

	ret = kv_check(ns, key, err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_delete, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, ns);
		store_db_bind_text(&x, st, 2, key);
		ret = store_db_step(&x, st);
		if (ret == 0)
			ret = pvm_err_set(err, -ENOENT, "%s/%s not found", ns, key);
	}
	return store_ctx_end(&x, ret < 0 ? ret : 0);
}

int store_kv_foreach(struct store *s, const char *ns,
		     int (*fn)(const char *key, const char *value, void *arg), void *arg,
		     struct pvm_err *err)
{
	struct store_ctx x;
	void *st;
	int ret;

	ret = kv_check(ns, NULL, err);
	if (ret < 0)
		return ret;
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_all, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, ns);
		while ((ret = store_db_step(&x, st)) > 0) {
			ret = fn(store_db_text(&x, st, 0), store_db_text(&x, st, 1), arg);
			if (ret != 0)
				break;
		}
	}
	return store_ctx_end(&x, ret);
}
