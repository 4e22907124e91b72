/* SPDX-License-Identifier: MIT */
/*
 * Idempotency keys: the first answer to a create, replayed when the same key
 * comes again. The API puts the record in the same transaction as the change
 * it answers for, so a replay never sees a change without its answer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

static struct store_query q_get =
    STORE_QUERY("SELECT key, request_hash, status, body, created_ms, expires_ms "
		"FROM idempotency_keys WHERE key = ? AND expires_ms > ?");
static struct store_query q_drop_expired =
    STORE_QUERY("DELETE FROM idempotency_keys WHERE key = ? AND expires_ms <= ?");
static struct store_query q_insert =
    STORE_QUERY("INSERT INTO idempotency_keys (key, request_hash, status, body, created_ms, "
		"expires_ms) VALUES (?, ?, ?, ?, ?, ?)");
static struct store_query q_prune =
    STORE_QUERY("DELETE FROM idempotency_keys WHERE expires_ms <= ?");

int store_idem_get(struct store *s, const char *key, int64_t now_ms, struct store_idem *out,
		   struct pvm_err *err)
{
	struct store_ctx x;
	void *st;
	int ret;

	ret = store_check_str(key, STORE_KEY_MAX, "key", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_get, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, key);
	store_db_bind_int(&x, st, 2, now_ms ? now_ms : store_now_ms());
	ret = store_db_step(&x, st);
	if (ret == 0)
		ret = pvm_err_set(err, -ENOENT, "idempotency key not found");
	if (ret < 0)
		goto out;
	memset(out, 0, sizeof(*out));
	store_db_copy(&x, st, 0, out->key, sizeof(out->key));
	store_db_copy(&x, st, 1, out->request_hash, sizeof(out->request_hash));
	out->status = (int)store_db_int(&x, st, 2);
	out->created_ms = store_db_int(&x, st, 4);
	out->expires_ms = store_db_int(&x, st, 5);
	ret = store_db_dup(&x, st, 3, &out->body);
out:
	return store_ctx_end(&x, ret);
}

int store_idem_put(struct store *s, const struct store_idem *r, struct pvm_err *err)
{
	int64_t now = r->created_ms ? r->created_ms : store_now_ms();
	struct store_ctx x;
	void *st;
	int ret;

	ret = store_check_str(r->key, sizeof(r->key), "key", err);
	if (ret < 0)
		return ret;
	if (strnlen(r->request_hash, sizeof(r->request_hash)) >= sizeof(r->request_hash))
		return pvm_err_field(err, -EINVAL, "request_hash", "request_hash is too long");
	if (r->status < 100 || r->status > 599)
		return pvm_err_field(err, -EINVAL, "status", "status %d is not an HTTP status",
				     r->status);
	if (r->expires_ms <= now)
		return pvm_err_field(err, -EINVAL, "expires_ms", "record would already be expired");
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_drop_expired, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, r->key);
		store_db_bind_int(&x, st, 2, now);
		ret = store_db_run(&x, st);
	}
	if (ret == 0)
		ret = store_db_stmt(&x, &q_insert, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, r->key);
		store_db_bind_text(&x, st, 2, r->request_hash);
		store_db_bind_int(&x, st, 3, r->status);
		store_db_bind_text(&x, st, 4, r->body ? r->body : "");
		store_db_bind_int(&x, st, 5, now);
		store_db_bind_int(&x, st, 6, r->expires_ms);
		ret = store_db_run(&x, st);
		if (ret == -EEXIST)
			ret = pvm_err_field(err, -EEXIST, "key", "idempotency key is in use");
	}
	return store_ctx_end(&x, ret);
}

int store_idem_prune(struct store *s, int64_t now_ms, struct pvm_err *err)
{
	struct store_ctx x;
	int64_t n = 0;
	void *st;
	int ret;

	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_prune, &st);
	if (ret == 0) {
		store_db_bind_int(&x, st, 1, now_ms ? now_ms : store_now_ms());
		ret = store_db_run(&x, st);
		n = store_db_changes(&x);
	}
	ret = store_ctx_end(&x, ret);
	return ret < 0 ? ret : (int)n;
}

void store_idem_free(struct store_idem *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
}
