/* SPDX-License-Identifier: MIT */
/* Images: named guest images (ELF microguests, kernels, disks). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-int.h"

#define IMAGE_COLS                                                                                 \
	"id, name, format, source, size_bytes, sha256, generation, created_ms, updated_ms"

static struct store_query q_insert =
    STORE_QUERY("INSERT INTO images (" IMAGE_COLS ") VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)");
static struct store_query q_get = STORE_QUERY("SELECT " IMAGE_COLS " FROM images WHERE id = ?");
static struct store_query q_get_name =
    STORE_QUERY("SELECT " IMAGE_COLS " FROM images WHERE name = ?");
static struct store_query q_gen = STORE_QUERY("SELECT generation FROM images WHERE id = ?");
static struct store_query q_update = STORE_QUERY(
    "UPDATE images SET name = ?, format = ?, source = ?, size_bytes = ?, sha256 = ?, "
    "generation = generation + 1, updated_ms = ? WHERE id = ? AND (? = 0 OR generation = ?) "
    "RETURNING generation");
static struct store_query q_delete = STORE_QUERY(
    "DELETE FROM images WHERE id = ? AND (? = 0 OR generation = ?) RETURNING generation");
static struct store_query q_list =
    STORE_QUERY("SELECT " IMAGE_COLS " FROM images WHERE id > ? ORDER BY id LIMIT ?");

static int image_read(struct store_ctx *x, void *st, struct store_image *im)
{
	memset(im, 0, sizeof(*im));
	store_db_copy(x, st, 0, im->id, sizeof(im->id));
	store_db_copy(x, st, 1, im->name, sizeof(im->name));
	store_db_copy(x, st, 2, im->format, sizeof(im->format));
	im->size_bytes = store_db_int(x, st, 4);
	store_db_copy(x, st, 5, im->sha256, sizeof(im->sha256));
	im->generation = store_db_int(x, st, 6);
	im->created_ms = store_db_int(x, st, 7);
	im->updated_ms = store_db_int(x, st, 8);
	return store_db_dup(x, st, 3, &im->source);
}

/* image_read as a store_row_fn. */
static int image_row(struct store_ctx *x, void *st, void *item)
{
	return image_read(x, st, item);
}

static int image_check(const struct store_image *im, struct pvm_err *err)
{
	size_t i, len;
	int ret;

	ret = store_check_str(im->name, sizeof(im->name), "name", err);
	if (ret == 0)
		ret = store_check_str(im->format, sizeof(im->format), "format", err);
	if (ret == 0)
		ret = store_check_str(im->source, 4096, "source", err);
	if (ret < 0)
		return ret;
	if (im->size_bytes < 0)
		return pvm_err_field(err, -EINVAL, "size_bytes", "size_bytes must not be negative");
	len = strnlen(im->sha256, sizeof(im->sha256));
	if (len != 0 && len != 64)
		return pvm_err_field(err, -EINVAL, "sha256", "sha256 must be 64 hex digits");
	for (i = 0; i < len; i++)
		if (!strchr("0123456789abcdef", im->sha256[i]))
			return pvm_err_field(err, -EINVAL, "sha256",
					     "sha256 must be lower-case hex");
	return 0;
}

static void bind_fields(struct store_ctx *x, void *st, int idx, const struct store_image *im)
{
	store_db_bind_text(x, st, idx, im->name);
	store_db_bind_text(x, st, idx + 1, im->format);
	store_db_bind_text(x, st, idx + 2, im->source);
	store_db_bind_int(x, st, idx + 3, im->size_bytes);
	store_db_bind_text(x, st, idx + 4, im->sha256);
}

int store_image_create(struct store *s, struct store_image *im, struct pvm_err *err)
{
	struct store_ctx x;
	int64_t now;
	void *st;
	int ret;

	ret = image_check(im, err);
	if (ret == 0)
		ret = store_new_id("img", im->id, err);
	if (ret < 0)
		return ret;
	now = store_now_ms();
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_insert, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, im->id);
		bind_fields(&x, st, 2, im);
		store_db_bind_int(&x, st, 7, now);
		store_db_bind_int(&x, st, 8, now);
		ret = store_db_run(&x, st);
		if (ret == -EEXIST)
			ret = pvm_err_field(err, -EEXIST, "name",
					    "image name '%s' is already taken", im->name);
	}
	ret = store_ctx_end(&x, ret);
	if (ret < 0) {
		im->id[0] = '\0';
		return ret;
	}
	im->generation = 1;
	im->created_ms = im->updated_ms = now;
	return 0;
}

static int image_get(struct store *s, struct store_query *q, const char *key,
		     struct store_image *out, struct pvm_err *err)
{
	int ret = store_check_str(key, STORE_NAME_MAX, "id", err);

	return ret < 0 ? ret : store_get(s, q, key, "image", image_row, out, err);
}

int store_image_get(struct store *s, const char *id, struct store_image *out, struct pvm_err *err)
{
	return image_get(s, &q_get, id, out, err);
}

int store_image_get_by_name(struct store *s, const char *name, struct store_image *out,
			    struct pvm_err *err)
{
	return image_get(s, &q_get_name, name, out, err);
}

int store_image_update(struct store *s, struct store_image *im, struct pvm_err *err)
{
	struct store_ctx x;
	int64_t now = store_now_ms(), gen = 0;
	void *st;
	int ret;

	ret = store_check_str(im->id, STORE_ID_MAX, "id", err);
	if (ret == 0)
		ret = image_check(im, err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, &q_update, &st);
	if (ret == 0) {
		bind_fields(&x, st, 1, im);
		store_db_bind_int(&x, st, 6, now);
		store_db_bind_text(&x, st, 7, im->id);
		store_db_bind_int(&x, st, 8, im->generation);
		store_db_bind_int(&x, st, 9, im->generation);
		ret = store_db_step(&x, st);
		if (ret == -EEXIST)
			ret = pvm_err_field(err, -EEXIST, "name",
					    "image name '%s' is already taken", im->name);
		else if (ret == 0)
			ret = store_gen_conflict(&x, &q_gen, "image", im->id, im->generation);
		else if (ret > 0)
			gen = store_db_int(&x, st, 0);
	}
	ret = store_ctx_end(&x, ret < 0 ? ret : 0);
	if (ret == 0) {
		im->generation = gen;
		im->updated_ms = now;
	}
	return ret;
}

int store_image_delete(struct store *s, const char *id, int64_t expected_gen, struct pvm_err *err)
{
	return store_delete_row(s, &q_delete, &q_gen, "image", id, expected_gen, err);
}

int store_image_list(struct store *s, const struct store_list_opts *opts,
		     struct store_image_list *out, struct pvm_err *err)
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
	    store_page(&x, st, limit, sizeof(*out->items), image_row,
		       offsetof(struct store_image, id), (void **)&out->items, &out->n, out->next);
out:
	ret = store_ctx_end(&x, ret);
	if (ret < 0)
		store_image_list_free(out);
	return ret;
}

void store_image_free(struct store_image *im)
{
	if (!im)
		return;
	free(im->source);
	im->source = NULL;
}

void store_image_list_free(struct store_image_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		store_image_free(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
