/* SPDX-License-Identifier: MIT */
/*
 * API tokens. Only the SHA-256 of a secret is stored; the secret itself is
 * handed out once by store_token_create. A secret has 256 random bits, so a
 * plain (unsalted, fast) hash is enough: there is nothing to brute-force.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

/* expires_ms is NULL for a token that never expires, read back as 0. */
#define TOKEN_COLS                                                                                 \
	"id, name, role, host_id, hash, revoked, revoked_ms, generation, created_ms, expires_ms"

static struct store_query q_insert = STORE_QUERY(
    "INSERT INTO tokens (" TOKEN_COLS ") VALUES (?, ?, ?, ?, ?, 0, 0, 1, ?, NULLIF(?, 0))");
static struct store_query q_get = STORE_QUERY("SELECT " TOKEN_COLS " FROM tokens WHERE id = ?");
static struct store_query q_by_hash =
    STORE_QUERY("SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?");
static struct store_query q_gen = STORE_QUERY("SELECT generation FROM tokens WHERE id = ?");
static struct store_query q_set_host =
    STORE_QUERY("UPDATE tokens SET host_id = ?, generation = generation + 1 "
		"WHERE id = ? AND (? = 0 OR generation = ?) RETURNING generation");
static struct store_query q_revoke =
    STORE_QUERY("UPDATE tokens SET revoked = 1, revoked_ms = ?, generation = generation + 1 "
		"WHERE id = ? RETURNING generation");
static struct store_query q_delete = STORE_QUERY(
    "DELETE FROM tokens WHERE id = ? AND (? = 0 OR generation = ?) RETURNING generation");
static struct store_query q_list =
    STORE_QUERY("SELECT " TOKEN_COLS " FROM tokens WHERE id > ? ORDER BY id LIMIT ?");
static struct store_query q_count = STORE_QUERY("SELECT COUNT(*) FROM tokens WHERE revoked = 0");

static void token_read(struct store_ctx *x, void *st, struct store_token *t)
{
	memset(t, 0, sizeof(*t));
	store_db_copy(x, st, 0, t->id, sizeof(t->id));
	store_db_copy(x, st, 1, t->name, sizeof(t->name));
	if (store_token_role_parse(store_db_text(x, st, 2), &t->role) < 0)
		t->role = STORE_ROLE_READER;
	store_db_copy(x, st, 3, t->host_id, sizeof(t->host_id));
	store_db_copy(x, st, 4, t->hash, sizeof(t->hash));
	t->revoked = store_db_int(x, st, 5) != 0;
	t->revoked_ms = store_db_int(x, st, 6);
	t->generation = store_db_int(x, st, 7);
	t->created_ms = store_db_int(x, st, 8);
	t->expires_ms = store_db_int(x, st, 9);
}

/* token_read as a store_row_fn: a token has nothing to allocate. */
static int token_row(struct store_ctx *x, void *st, void *item)
{
	token_read(x, st, item);
	return 0;
}

static int token_get_x(struct store_ctx *x, struct store_query *q, const char *key,
		       struct store_token *out)
{
	int ret = store_get_row(x, q, key, "token", token_row, out);

	/* A hash is no name to give back: the caller only knows its secret. */
	if (ret == -ENOENT && q == &q_by_hash)
		return pvm_err_set(x->err, -ENOENT, "unknown token");
	return ret;
}

int store_token_create(struct store *s, struct store_token *t, char *secret, struct pvm_err *err)
{
	char rnd[65];
	struct store_ctx x;
	int64_t now;
	void *st;
	int ret;

	ret = store_check_str(t->name, sizeof(t->name), "name", err);
	if (ret < 0)
		return ret;
	if ((unsigned)t->role > STORE_ROLE_HOST)
		return pvm_err_field(err, -EINVAL, "role", "invalid role %d", t->role);
	if (strnlen(t->host_id, sizeof(t->host_id)) >= sizeof(t->host_id))
		return pvm_err_field(err, -EINVAL, "host_id", "host_id is too long");
	if (t->host_id[0] && t->role != STORE_ROLE_HOST)
		return pvm_err_field(err, -EINVAL, "host_id",
				     "only host tokens are bound to a host");
	if (t->expires_ms < 0)
		return pvm_err_field(err, -EINVAL, "expires_ms", "expires_ms must not be negative");
	ret = store_random_hex(32, rnd, sizeof(rnd), err);
	if (ret < 0)
		return ret;
	snprintf(secret, STORE_SECRET_MAX, "pvm_%s", rnd);
	ret = store_sha256_hex(secret, strlen(secret), t->hash, err);
	if (ret == 0)
		ret = store_new_id("tok", t->id, err);
	if (ret < 0)
		goto fail;
	now = store_now_ms();
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		goto fail;
	ret = store_db_stmt(&x, &q_insert, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, t->id);
		store_db_bind_text(&x, st, 2, t->name);
		store_db_bind_text(&x, st, 3, store_token_role_name(t->role));
		store_db_bind_id(&x, st, 4, t->host_id);
		store_db_bind_text(&x, st, 5, t->hash);
		store_db_bind_int(&x, st, 6, now);
		store_db_bind_int(&x, st, 7, t->expires_ms);
		ret = store_db_run(&x, st);
		if (ret == -ENOENT)
			ret =
			    pvm_err_field(err, -ENOENT, "host_id", "host %s not found", t->host_id);
	}
	if (ret == 0)
		ret = store_event_gen(&x, STORE_EV_TOKEN_CREATED, t->id, 1, "role",
				      store_token_role_name(t->role));
	ret = store_ctx_end(&x, ret);
	if (ret < 0)
		goto fail;
	t->revoked = false;
	t->revoked_ms = 0;
	t->generation = 1;
	t->created_ms = now;
	return 0;
fail:
	memset(secret, 0, STORE_SECRET_MAX);
	t->id[0] = '\0';
	return ret;
}

int store_token_get(struct store *s, const char *id, struct store_token *out, struct pvm_err *err)
{
	int ret = store_check_str(id, STORE_ID_MAX, "id", err);

	return ret < 0 ? ret : store_get(s, &q_get, id, "token", token_row, out, err);
}

int store_token_authenticate(struct store *s, const char *secret, struct store_token *out,
			     struct pvm_err *err)
{
	char hash[STORE_HASH_HEX];
	struct store_ctx x;
	int ret;

	if (!secret || !*secret)
		return pvm_err_set(err, -ENOENT, "unknown token");
	if (strnlen(secret, STORE_SECRET_MAX) >= STORE_SECRET_MAX)
		return pvm_err_set(err, -ENOENT, "unknown token");
	ret = store_sha256_hex(secret, strlen(secret), hash, err);
	if (ret < 0)
		return ret;
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = token_get_x(&x, &q_by_hash, hash, out);
	ret = store_ctx_end(&x, ret);
	if (ret == 0 && out->revoked)
		return pvm_err_set(err, -EKEYREVOKED, "token %s was revoked", out->id);
	if (ret == 0 && out->expires_ms && store_now_ms() >= out->expires_ms)
		return pvm_err_set(err, -EKEYEXPIRED, "token %s expired", out->id);
	return ret;
}

int store_token_set_host(struct store *s, const char *id, int64_t expected_gen, const char *host_id,
			 struct pvm_err *err)
{
	struct store_token t;
	struct store_ctx x;
	void *st;
	int ret;

	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret == 0)
		ret = store_check_str(host_id, STORE_ID_MAX, "host_id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = token_get_x(&x, &q_get, id, &t);
	if (ret == 0 && t.role != STORE_ROLE_HOST)
		ret = pvm_err_field(err, -EINVAL, "host_id", "token %s is not a host token", id);
	if (ret == 0)
		ret = store_db_stmt(&x, &q_set_host, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, host_id);
		store_db_bind_text(&x, st, 2, id);
		store_db_bind_int(&x, st, 3, expected_gen);
		store_db_bind_int(&x, st, 4, expected_gen);
		ret = store_db_step(&x, st);
		if (ret == -ENOENT)
			ret = pvm_err_field(err, -ENOENT, "host_id", "host %s not found", host_id);
		else if (ret == 0)
			ret = store_gen_conflict(&x, &q_gen, "token", id, expected_gen);
	}
	return store_ctx_end(&x, ret < 0 ? ret : 0);
}

int store_token_revoke(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err)
{
	struct store_token t;
	struct store_ctx x;
	void *st;
	int ret;

	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = token_get_x(&x, &q_get, id, &t);
	if (ret < 0 || t.revoked)
		goto out;
	if (expected_gen && t.generation != expected_gen) {
		ret = pvm_err_set(err, -ESTALE, "token %s: generation is %lld, expected %lld", id,
				  (long long)t.generation, (long long)expected_gen);
		goto out;
	}
	ret = store_db_stmt(&x, &q_revoke, &st);
	if (ret < 0)
		goto out;
	store_db_bind_int(&x, st, 1, store_now_ms());
	store_db_bind_text(&x, st, 2, id);
	ret = store_db_step(&x, st);
	if (ret > 0)
		ret = store_event_gen(&x, STORE_EV_TOKEN_REVOKED, id, store_db_int(&x, st, 0), NULL,
				      NULL);
	else if (ret == 0)
		ret = pvm_err_set(err, -ENOENT, "token %s not found", id);
out:
	return store_ctx_end(&x, ret);
}

int store_token_delete(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err)
{
	return store_delete_row(s, &q_delete, &q_gen, "token", id, expected_gen, err);
}

int store_token_list(struct store *s, const struct store_list_opts *opts,
		     struct store_token_list *out, struct pvm_err *err)
{
	size_t limit = store_list_limit(opts);
	struct store_ctx x;
	void *st;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_list, &st);
	if (ret < 0)
		goto out;
	store_db_bind_text(&x, st, 1, opts && opts->after ? opts->after : "");
	store_db_bind_int(&x, st, 2, (int64_t)limit + 1);
	ret =
	    store_page(&x, st, limit, sizeof(*out->items), token_row,
		       offsetof(struct store_token, id), (void **)&out->items, &out->n, out->next);
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0)
		store_token_list_free(out);
	return ret;
}

int store_token_count(struct store *s, int64_t *count, struct pvm_err *err)
{
	struct store_ctx x;
	void *st;
	int ret;

	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_count, &st);
	if (ret == 0)
		ret = store_db_step(&x, st);
	if (ret > 0) {
		*count = store_db_int(&x, st, 0);
		ret = 0;
	}
	return store_ctx_end(&x, ret);
}

void store_token_list_free(struct store_token_list *l)
{
	if (!l)
		return;
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
