/* SPDX-License-Identifier: MIT */
/* Placements: each scheduling decision with its explanation. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

#define PLACEMENT_COLS "id, guest_id, host_id, decision, explanation, created_ms"

static struct store_query q_insert =
    STORE_QUERY("INSERT INTO placements (" PLACEMENT_COLS ") VALUES (?, ?, ?, ?, ?, ?)");
/* The cursor is an id; order is insertion order (seq). */
static struct store_query q_list = STORE_QUERY(
    "SELECT " PLACEMENT_COLS " FROM placements WHERE seq > COALESCE((SELECT seq FROM placements "
    "WHERE id = ?), 0) AND (CAST(? AS TEXT) IS NULL OR guest_id = ?) "
    "AND (CAST(? AS TEXT) IS NULL OR host_id = ?) "
    "ORDER BY seq LIMIT ?");

/* A store_row_fn: placements are read only by the list. */
static int placement_row(struct store_ctx *x, void *st, void *item)
{
	struct store_placement *p = item;

	store_db_copy(x, st, 0, p->id, sizeof(p->id));
	store_db_copy(x, st, 1, p->guest_id, sizeof(p->guest_id));
	store_db_copy(x, st, 2, p->host_id, sizeof(p->host_id));
	store_db_copy(x, st, 3, p->decision, sizeof(p->decision));
	p->created_ms = store_db_int(x, st, 5);
	return store_db_dup(x, st, 4, &p->explanation);
}

int store_placement_insert(struct store_ctx *x, const char *guest_id, const char *host_id,
			   const char *decision, const char *explanation, int64_t now, char *id_out)
{
	char id[STORE_ID_MAX];
	void *st;
	int ret;

	ret = store_new_id("plc", id, x->err);
	if (ret == 0)
		ret = store_db_stmt(x, &q_insert, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, id);
	store_db_bind_text(x, st, 2, guest_id);
	store_db_bind_id(x, st, 3, host_id);
	store_db_bind_text(x, st, 4, decision);
	store_db_bind_text(x, st, 5, explanation ? explanation : "{}");
	store_db_bind_int(x, st, 6, now);
	ret = store_db_run(x, st);
	if (ret == -ENOENT)
		return pvm_err_set(x->err, -ENOENT,
				   "placement refers to unknown guest %s or host %s", guest_id,
				   host_id && *host_id ? host_id : "(none)");
	if (ret == 0 && id_out)
		memcpy(id_out, id, sizeof(id));
	return ret;
}

int store_placement_add(struct store *s, struct store_placement *p, struct pvm_err *err)
{
	struct store_ctx x;
	int64_t now = store_now_ms();
	int ret;

	ret = store_check_str(p->guest_id, sizeof(p->guest_id), "guest_id", err);
	if (ret == 0)
		ret = store_check_str(p->decision, sizeof(p->decision), "decision", err);
	if (ret == 0 && strnlen(p->host_id, sizeof(p->host_id)) >= sizeof(p->host_id))
		ret = pvm_err_field(err, -EINVAL, "host_id", "host_id is too long");
	if (ret == 0)
		ret = store_check_json(p->explanation, false, "explanation", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_placement_insert(&x, p->guest_id, p->host_id, p->decision, p->explanation, now,
				     p->id);
	ret = store_ctx_end(&x, ret);
	if (ret == 0)
		p->created_ms = now;
	return ret;
}

int store_placement_list(struct store *s, const struct store_list_opts *opts,
			 struct store_placement_list *out, struct pvm_err *err)
{
	size_t limit = store_list_limit(opts);
	const char *gid = opts && opts->guest_id && *opts->guest_id ? opts->guest_id : NULL;
	const char *hid = opts && opts->host_id && *opts->host_id ? opts->host_id : NULL;
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
	store_db_bind_text(&x, st, 2, gid);
	store_db_bind_text(&x, st, 3, gid);
	store_db_bind_text(&x, st, 4, hid);
	store_db_bind_text(&x, st, 5, hid);
	store_db_bind_int(&x, st, 6, (int64_t)limit + 1);
	ret = store_page(&x, st, limit, sizeof(*out->items), placement_row,
			 offsetof(struct store_placement, id), (void **)&out->items, &out->n,
			 out->next);
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0)
		store_placement_list_free(out);
	return ret;
}

void store_placement_free(struct store_placement *p)
{
	if (!p)
		return;
	free(p->explanation);
	p->explanation = NULL;
}

void store_placement_list_free(struct store_placement_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		store_placement_free(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
