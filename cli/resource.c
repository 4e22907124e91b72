/* SPDX-License-Identifier: MIT */
/* Resource plumbing shared by the commands: paginated lists, id-or-name lookup. */
#include <stdlib.h>
#include <string.h>

#include "cli/internal.h"

int cli_list_all(struct cli_ctx *ctx, const char *path, json_object **doc)
{
	const char *sep = strchr(path, '?') ? "&" : "?";
	json_object *items = NULL;
	char *next = NULL;
	int ret = CLI_EXIT_OK;

	*doc = NULL;
	do {
		struct cli_resp resp;
		json_object *page, *tok;
		char *url, *esc = NULL;
		int r;

		if (next && !(esc = cli_escape(ctx, next))) {
			ret = cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
			break;
		}
		r = esc ? asprintf(&url, "%s%slimit=1000&page_token=%s", path, sep, esc)
			: asprintf(&url, "%s%slimit=1000", path, sep);
		free(esc);
		free(next);
		next = NULL;
		if (r < 0) {
			ret = cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
			break;
		}
		ret = cli_request(ctx, "GET", url, NULL, NULL, &resp);
		free(url);
		if (ret != CLI_EXIT_OK) {
			cli_resp_free(&resp);
			break;
		}
		page = cli_field(resp.json, "items");
		if (!page || !json_object_is_type(page, json_type_array)) {
			cli_resp_free(&resp);
			ret =
			    cli_fail(ctx, CLI_EXIT_SERVER, "the server's list has no items array");
			break;
		}
		tok = cli_field(resp.json, "next_page_token");
		if (tok && json_object_is_type(tok, json_type_string) &&
		    json_object_get_string_len(tok) > 0)
			next = strdup(json_object_get_string(tok));
		if (!*doc) {
			*doc = json_object_get(resp.json);
			items = page;
		} else {
			for (size_t i = 0; i < json_object_array_length(page); i++)
				json_object_array_add(
				    items, json_object_get(json_object_array_get_idx(page, i)));
		}
		cli_resp_free(&resp);
	} while (next);
	free(next);
	if (ret != CLI_EXIT_OK) {
		json_object_put(*doc);
		*doc = NULL;
	} else {
		json_object_object_add(*doc, "next_page_token", NULL);
	}
	return ret;
}

/* Ids are "abc_" and 32 hex digits (store/store.h). */
static bool looks_like_id(const char *ref)
{
	return strlen(ref) == 36 && ref[3] == '_' && strspn(ref + 4, "0123456789abcdef") == 32;
}

static int get_one(struct cli_ctx *ctx, const char *base, const char *id, long quiet,
		   json_object **obj, char *etag, size_t etag_len)
{
	struct cli_req opt = {.quiet_status = quiet};
	struct cli_resp resp;
	char *esc = cli_escape(ctx, id), *url = NULL;
	int ret;

	if (!esc || asprintf(&url, "%s/%s", base, esc) < 0) {
		free(esc);
		return cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
	}
	free(esc);
	ret = cli_request(ctx, "GET", url, NULL, &opt, &resp);
	free(url);
	if (ret == CLI_EXIT_OK) {
		*obj = json_object_get(resp.json);
		if (etag)
			snprintf(etag, etag_len, "%s", resp.etag);
	}
	cli_resp_free(&resp);
	return ret;
}

int cli_lookup(struct cli_ctx *ctx, const char *base, const char *ref, json_object **obj,
	       char *etag, size_t etag_len)
{
	json_object *doc = NULL, *items;
	const char *id = NULL;
	int ret;

	*obj = NULL;
	if (etag && etag_len)
		etag[0] = '\0';
	if (!ref[0])
		return cli_usage_error(ctx, "an empty name or id");
	ret = get_one(ctx, base, ref, looks_like_id(ref) ? 0 : 404, obj, etag, etag_len);
	if (ret != CLI_EXIT_NOT_FOUND || looks_like_id(ref))
		return ret;
	/* Not an id: look the name up in the list. */
	ret = cli_list_all(ctx, base, &doc);
	if (ret != CLI_EXIT_OK)
		return ret;
	items = cli_field(doc, "items");
	for (size_t i = 0; items && i < json_object_array_length(items); i++) {
		json_object *it = json_object_array_get_idx(items, i);
		json_object *name = cli_field(it, "name");

		if (name && json_object_is_type(name, json_type_string) &&
		    strcmp(json_object_get_string(name), ref) == 0) {
			json_object *idv = cli_field(it, "id");

			id = idv ? json_object_get_string(idv) : NULL;
			break;
		}
	}
	ret = id ? get_one(ctx, base, id, 0, obj, etag, etag_len)
		 : cli_fail(ctx, CLI_EXIT_NOT_FOUND, "%s: no such id or name in %s", ref, base);
	json_object_put(doc);
	return ret;
}

int cli_change(struct cli_ctx *ctx, const char *base, const char *ref, const char *method,
	       json_object *body, json_object **result)
{
	int ret = CLI_EXIT_OK;

	if (result)
		*result = NULL;
	/* A stale ETag means the row moved between our read and our write (a
	 * host's report, say): read again and retry a few times, then give up. */
	for (int attempt = 0; attempt < 3; attempt++) {
		struct cli_req opt = {.quiet_status = attempt < 2 ? 412 : 0};
		char etag[80], *esc, *url = NULL;
		json_object *obj = NULL, *idv;
		struct cli_resp resp;
		long status;

		ret = cli_lookup(ctx, base, ref, &obj, etag, sizeof(etag));
		if (ret != CLI_EXIT_OK)
			return ret;
		idv = cli_field(obj, "id");
		esc = cli_escape(ctx, idv ? json_object_get_string(idv) : ref);
		if (!esc || asprintf(&url, "%s/%s", base, esc) < 0) {
			free(esc);
			json_object_put(obj);
			return cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
		}
		free(esc);
		opt.if_match = etag;
		ret = cli_request(ctx, method, url, body, &opt, &resp);
		free(url);
		if (ret == CLI_EXIT_OK && result)
			*result = resp.json ? json_object_get(resp.json) : json_object_get(obj);
		status = resp.status;
		json_object_put(obj);
		cli_resp_free(&resp);
		if (status != 412 || !opt.quiet_status)
			break;
	}
	return ret;
}

static void name_one(json_object *names, json_object *obj, const char *id_key, const char *name_key)
{
	json_object *id = cli_field(obj, id_key), *name = NULL;

	if (!id || !json_object_is_type(id, json_type_string) ||
	    !json_object_is_type(obj, json_type_object))
		return;
	if (names)
		json_object_object_get_ex(names, json_object_get_string(id), &name);
	json_object_object_add(obj, name_key, json_object_get(name ? name : id));
}

/* Does obj (or an element of it) carry a host id under id_key? */
static bool names_a_host(json_object *obj, const char *id_key)
{
	size_t n = json_object_is_type(obj, json_type_array) ? json_object_array_length(obj) : 1;

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_is_type(obj, json_type_array)
				     ? json_object_array_get_idx(obj, i)
				     : obj;
		json_object *id = cli_field(o, id_key);

		if (id && json_object_is_type(id, json_type_string) &&
		    json_object_get_string_len(id))
			return true;
	}
	return false;
}

void cli_host_names(struct cli_ctx *ctx, json_object *obj, const char *id_key, const char *name_key)
{
	json_object *doc = NULL, *items;

	if (!obj || !names_a_host(obj, id_key))
		return;
	if (!ctx->hosts) {
		ctx->quiet = true;
		if (cli_list_all(ctx, "/v1/hosts", &doc) == CLI_EXIT_OK) {
			ctx->hosts = json_object_new_object();
			items = cli_field(doc, "items");
			for (size_t i = 0; ctx->hosts && i < json_object_array_length(items); i++) {
				json_object *h = json_object_array_get_idx(items, i);
				json_object *id = cli_field(h, "id"), *name = cli_field(h, "name");

				if (id && name)
					json_object_object_add(ctx->hosts,
							       json_object_get_string(id),
							       json_object_get(name));
			}
		}
		ctx->quiet = false;
		json_object_put(doc);
	}
	if (!json_object_is_type(obj, json_type_array)) {
		name_one(ctx->hosts, obj, id_key, name_key);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(obj); i++)
		name_one(ctx->hosts, json_object_array_get_idx(obj, i), id_key, name_key);
}
