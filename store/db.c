/* SPDX-License-Identifier: MIT */
/*
 * The statement layer: portable SQL texts, prepared once per connection and
 * cached by a slot number each query receives on first use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

static atomic_int next_slot;

static int query_slot(struct store_query *q)
{
	int slot = atomic_load_explicit(&q->slot, memory_order_acquire);
	int expected = 0;
	int mine;

	if (slot)
		return slot;
	mine = atomic_fetch_add(&next_slot, 1) + 1;
	if (mine > STORE_MAX_QUERIES)
		return -1;
	if (atomic_compare_exchange_strong(&q->slot, &expected, mine))
		return mine;
	return expected; /* another thread numbered it first */
}

int store_db_stmt(struct store_ctx *x, struct store_query *q, void **stmt)
{
	const struct store_backend_ops *ops = x->s->ops;
	void **cached;
	int i, slot, ret;

	slot = query_slot(q);
	if (slot < 1)
		return pvm_err_set(x->err, -EOVERFLOW, "store: more than %d distinct queries",
				   STORE_MAX_QUERIES);
	cached = &x->c->stmts[slot - 1];
	if (!*cached) {
		ret = ops->prepare(x->c->impl, q->sql, cached, x->err);
		if (ret < 0)
			return ret;
	}
	*stmt = *cached;
	/* Every call's statements are reset when it ends, so a statement
	 * needs a reset here only when this call ran it already. */
	for (i = 0; i < x->nused; i++) {
		if (x->used[i] == *cached) {
			ops->reset(*cached);
			return 0;
		}
	}
	if (x->nused >= STORE_CTX_STMTS)
		return pvm_err_set(x->err, -EOVERFLOW, "store: too many statements in one call");
	x->used[x->nused++] = *cached;
	return 0;
}

void store_db_bind_int(struct store_ctx *x, void *stmt, int idx, int64_t v)
{
	x->s->ops->bind_int(stmt, idx, v);
}

void store_db_bind_text(struct store_ctx *x, void *stmt, int idx, const char *v)
{
	x->s->ops->bind_text(stmt, idx, v);
}

void store_db_bind_id(struct store_ctx *x, void *stmt, int idx, const char *v)
{
	x->s->ops->bind_text(stmt, idx, v && *v ? v : NULL);
}

int store_db_step(struct store_ctx *x, void *stmt)
{
	return x->s->ops->step(stmt, x->err);
}

int64_t store_db_int(struct store_ctx *x, void *stmt, int col)
{
	return x->s->ops->col_int(stmt, col);
}

const char *store_db_text(struct store_ctx *x, void *stmt, int col)
{
	const char *v = x->s->ops->col_text(stmt, col);

	return v ? v : "";
}

void store_db_copy(struct store_ctx *x, void *stmt, int col, char *dst, size_t size)
{
	snprintf(dst, size, "%s", store_db_text(x, stmt, col));
}

int store_db_dup(struct store_ctx *x, void *stmt, int col, char **dst)
{
	*dst = strdup(store_db_text(x, stmt, col));
	if (!*dst)
		return pvm_err_set(x->err, -ENOMEM, "out of memory");
	return 0;
}

int store_db_run(struct store_ctx *x, void *stmt)
{
	int ret;

	while ((ret = store_db_step(x, stmt)) > 0)
		;
	return ret;
}

int64_t store_db_changes(struct store_ctx *x)
{
	return x->s->ops->changes(x->c->impl);
}
