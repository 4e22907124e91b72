/* SPDX-License-Identifier: MIT */
/* Ids, hashes, time, argument checks and the other small helpers of store/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "store/store-int.h"

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int fill_random(unsigned char *buf, size_t n, struct pvm_err *err)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = getrandom(buf + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return pvm_err_set(err, -errno, "getrandom: %s", strerror(errno));
		}
		got += (size_t)r;
	}
	return 0;
}

int store_random_hex(size_t nbytes, char *out, size_t size, struct pvm_err *err)
{
	unsigned char buf[64];
	int ret;

	if (nbytes > sizeof(buf) || size < 2 * nbytes + 1)
		return pvm_err_set(err, -EINVAL, "random: buffer too small");
	ret = fill_random(buf, nbytes, err);
	if (ret < 0)
		return ret;
	to_hex(buf, nbytes, out);
	return 0;
}

int store_new_id(const char *prefix, char id[STORE_ID_MAX], struct pvm_err *err)
{
	unsigned char raw[16];
	uint64_t ms = (uint64_t)store_now_ms();
	size_t plen = strlen(prefix);
	int i, ret;

	/* Time first, so ids sort roughly by creation and inserts append. */
	for (i = 0; i < 6; i++)
		raw[i] = (unsigned char)(ms >> (8 * (5 - i)));
	ret = fill_random(raw + 6, sizeof(raw) - 6, err);
	if (ret < 0)
		return ret;
	memcpy(id, prefix, plen);
	id[plen] = '_';
	to_hex(raw, sizeof(raw), id + plen + 1);
	return 0;
}

int store_sha256_hex(const char *data, size_t len, char out[STORE_HASH_HEX], struct pvm_err *err)
{
	unsigned char digest[32];
	int ret;

	ret = gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, digest);
	if (ret < 0)
		return pvm_err_set(err, -EIO, "sha256: %s", gnutls_strerror(ret));
	to_hex(digest, sizeof(digest), out);
	return 0;
}

int64_t store_now_ms(void)
{
	return (int64_t)(pvm_wall_ns() / 1000000ull);
}

int store_check_json(const char *text, bool want_object, const char *what, struct pvm_err *err)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *obj;
	size_t len;
	int ret = 0;

	if (!text)
		return 0;
	len = strlen(text);
	if (len == 0)
		return pvm_err_field(err, -EINVAL, what, "%s: empty, not JSON", what);
	if (len > STORE_JSON_MAX)
		return pvm_err_field(err, -E2BIG, what, "%s: %zu bytes, the limit is %u", what, len,
				     STORE_JSON_MAX);
	tok = json_tokener_new_ex(64);
	if (!tok)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* Including the NUL tells json-c the input ends (a bare number would
	 * otherwise wait for more digits). */
	obj = json_tokener_parse_ex(tok, text, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	if (jerr != json_tokener_success)
		ret = pvm_err_field(err, -EINVAL, what, "%s: malformed JSON at byte %zu: %s", what,
				    json_tokener_get_parse_end(tok), json_tokener_error_desc(jerr));
	else if (want_object && !json_object_is_type(obj, json_type_object))
		ret = pvm_err_field(err, -EINVAL, what, "%s: must be a JSON object", what);
	json_object_put(obj);
	json_tokener_free(tok);
	return ret;
}

int store_check_str(const char *v, size_t max, const char *what, struct pvm_err *err)
{
	size_t len;

	if (!v || !*v)
		return pvm_err_field(err, -EINVAL, what, "%s is empty", what);
	len = strnlen(v, max);
	if (len >= max)
		return pvm_err_field(err, -EINVAL, what, "%s is longer than %zu bytes", what,
				     max - 1);
	return 0;
}

size_t store_list_limit(const struct store_list_opts *opts)
{
	if (!opts || opts->limit == 0)
		return STORE_LIST_DEFAULT;
	return opts->limit > STORE_LIST_MAX ? STORE_LIST_MAX : opts->limit;
}

int store_gen_conflict(struct store_ctx *x, struct store_query *q_gen, const char *what,
		       const char *id, int64_t expected)
{
	void *st;
	int ret;

	ret = store_db_stmt(x, q_gen, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, id);
	ret = store_db_step(x, st);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return pvm_err_set(x->err, -ENOENT, "%s %s not found", what, id);
	return pvm_err_set(x->err, -ESTALE, "%s %s: generation is %lld, expected %lld", what, id,
			   (long long)store_db_int(x, st, 0), (long long)expected);
}

int store_delete_row(struct store *s, struct store_query *q_delete, struct store_query *q_gen,
		     const char *what, const char *id, int64_t expected_gen, struct pvm_err *err)
{
	struct store_ctx x;
	void *st;
	int ret;

	ret = store_check_str(id, STORE_ID_MAX, "id", err);
	if (ret < 0)
		return ret;
	ret = store_ctx_write(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_db_stmt(&x, q_delete, &st);
	if (ret == 0) {
		store_db_bind_text(&x, st, 1, id);
		store_db_bind_int(&x, st, 2, expected_gen);
		store_db_bind_int(&x, st, 3, expected_gen);
		ret = store_db_step(&x, st);
		if (ret == 0)
			ret = store_gen_conflict(&x, q_gen, what, id, expected_gen);
	}
	return store_ctx_end(&x, ret < 0 ? ret : 0);
}

int store_grow(void **items, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*items, ncap * size);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * size, 0, (ncap - *cap) * size);
	*items = p;
	*cap = ncap;
	return 0;
}

int store_get_row(struct store_ctx *x, struct store_query *q, const char *key, const char *what,
		  store_row_fn *read_row, void *item)
{
	void *st;
	int ret;

	ret = store_db_stmt(x, q, &st);
	if (ret < 0)
		return ret;
	store_db_bind_text(x, st, 1, key);
	ret = store_db_step(x, st);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return pvm_err_set(x->err, -ENOENT, "%s %s not found", what, key);
	return read_row(x, st, item);
}

int store_get(struct store *s, struct store_query *q, const char *key, const char *what,
	      store_row_fn *read_row, void *item, struct pvm_err *err)
{
	struct store_ctx x;
	int ret;

	ret = store_ctx_read(s, &x, err);
	if (ret < 0)
		return ret;
	ret = store_get_row(&x, q, key, what, read_row, item);
	return store_ctx_end(&x, ret);
}

int store_page(struct store_ctx *x, void *st, size_t limit, size_t size, store_row_fn *read_row,
	       size_t id_off, void **items, size_t *n, char next[STORE_ID_MAX])
{
	size_t cap = 0;
	int ret;

	while ((ret = store_db_step(x, st)) > 0) {
		if (*n == limit) {
			snprintf(next, STORE_ID_MAX, "%s",
				 (char *)*items + (*n - 1) * size + id_off);
			return 0;
		}
		if (store_grow(items, &cap, *n, size) < 0)
			return pvm_err_set(x->err, -ENOMEM, "out of memory");
		ret = read_row(x, st, (char *)*items + *n * size);
		if (ret < 0)
			return ret;
		(*n)++;
	}
	return ret;
}
