/* SPDX-License-Identifier: MIT */
/* Rendering API objects: table cells, lists, single objects and raw JSON. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/internal.h"

json_object *cli_field(json_object *obj, const char *path)
{
	char name[128];

	while (obj && path && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(name) || !json_object_is_type(obj, json_type_object))
			return NULL;
		memcpy(name, path, n);
		name[n] = '\0';
		if (!json_object_object_get_ex(obj, name, &obj))
			return NULL;
		path = dot ? dot + 1 : NULL;
	}
	return obj;
}

const char *cli_field_text(json_object *obj, const char *path, char *buf, size_t len)
{
	json_object *v = cli_field(obj, path);

	/* Into buf as well: callers print buf as often as the result. */
	if (!v) {
		snprintf(buf, len, "-");
		return buf;
	}
	switch (json_object_get_type(v)) {
	case json_type_string:
		snprintf(buf, len, "%s", json_object_get_string(v));
		break;
	case json_type_boolean:
		snprintf(buf, len, "%s", json_object_get_boolean(v) ? "true" : "false");
		break;
	case json_type_int:
		snprintf(buf, len, "%" PRId64, json_object_get_int64(v));
		break;
	case json_type_double:
		snprintf(buf, len, "%.3g", json_object_get_double(v));
		break;
	case json_type_array: {
		/* a list of strings reads best comma-separated */
		size_t n = json_object_array_length(v), off = 0;

		buf[0] = '\0';
		for (size_t i = 0; i < n && off < len; i++) {
			json_object *e = json_object_array_get_idx(v, i);
			const char *s =
			    json_object_is_type(e, json_type_string)
				? json_object_get_string(e)
				: json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
			int w = snprintf(buf + off, len - off, "%s%s", i ? "," : "", s);

			off += w > 0 ? (size_t)w : 0;
		}
		break;
	}
	default:
		snprintf(buf, len, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	}
	return buf[0] ? buf : "-";
}

static bool get_ms(json_object *obj, const char *path, int64_t *ms)
{
	json_object *v = cli_field(obj, path);

	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	*ms = json_object_get_int64(v);
	return *ms > 0;
}

const char *cli_fmt_time_ms(json_object *obj, const char *path, char *buf, size_t len)
{
	struct tm tm;
	time_t t;
	int64_t ms;

	if (!get_ms(obj, path, &ms))
		return cli_field_text(obj, path, buf, len);
	t = (time_t)(ms / 1000);
	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		snprintf(buf, len, "-");
		return buf;
	}
	return buf;
}

const char *cli_fmt_age_ms(json_object *obj, const char *path, char *buf, size_t len)
{
	int64_t ms, age;

	if (!get_ms(obj, path, &ms))
		return cli_field_text(obj, path, buf, len);
	age = ((int64_t)(pvm_wall_ns() / 1000000) - ms) / 1000;
	if (age < 0)
		age = 0;
	if (age < 120)
		snprintf(buf, len, "%llds", (long long)age);
	else if (age < 7200)
		snprintf(buf, len, "%lldm", (long long)age / 60);
	else if (age < 172800)
		snprintf(buf, len, "%lldh", (long long)age / 3600);
	else
		snprintf(buf, len, "%lldd", (long long)age / 86400);
	return buf;
}

const char *cli_fmt_bytes(json_object *obj, const char *path, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	json_object *v = cli_field(obj, path);
	double x;
	size_t u = 0;

	if (!v || !json_object_is_type(v, json_type_int))
		return cli_field_text(obj, path, buf, len);
	x = (double)json_object_get_int64(v);
	while (x >= 1024 && u + 1 < PVM_ARRAY_SIZE(unit)) {
		x /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", x, unit[u]);
	return buf;
}

const char *cli_fmt_keys(json_object *obj, const char *path, char *buf, size_t len)
{
	json_object *v = cli_field(obj, path);
	size_t off = 0;

	if (!v || !json_object_is_type(v, json_type_object))
		return cli_field_text(obj, path, buf, len);
	buf[0] = '\0';
	json_object_object_foreach(v, key, val)
	{
		const char *s = json_object_is_type(val, json_type_string)
				    ? json_object_get_string(val)
				    : json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
		int w = snprintf(buf + off, len - off, "%s%s=%s", off ? "," : "", key, s);

		if (w < 0 || (size_t)w >= len - off)
			break;
		off += (size_t)w;
	}
	return buf[0] ? buf : "-";
}

void cli_print_json(json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE |
						     JSON_C_TO_STRING_SPACED));
}

static const char *cell(const struct cli_col *c, json_object *obj, char *buf, size_t len)
{
	buf[0] = '\0';
	return c->fmt ? c->fmt(obj, c->path, buf, len) : cli_field_text(obj, c->path, buf, len);
}

int cli_print_list(struct cli_ctx *ctx, json_object *doc, const struct cli_col *cols, size_t ncols)
{
	if (ctx->output == CLI_OUT_JSON) {
		cli_print_json(doc);
		return CLI_EXIT_OK;
	}
	return cli_print_rows(ctx, cli_field(doc, "items"), cols, ncols);
}

int cli_print_rows(struct cli_ctx *ctx, json_object *items, const struct cli_col *cols,
		   size_t ncols)
{
	const char *headers[32], *cells[32];
	char bufs[32][512];
	struct cli_table *t;
	size_t n = 0;
	size_t map[32];

	if (!items || !json_object_is_type(items, json_type_array))
		return cli_fail(ctx, CLI_EXIT_SERVER, "the server's answer has no list of items");
	for (size_t c = 0; c < ncols && n < PVM_ARRAY_SIZE(headers); c++) {
		if (cols[c].wide && ctx->output != CLI_OUT_WIDE)
			continue;
		map[n] = c;
		headers[n++] = cols[c].header;
	}
	t = cli_table_new(n, headers);
	if (!t)
		return cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		json_object *obj = json_object_array_get_idx(items, i);

		for (size_t c = 0; c < n; c++)
			cells[c] = cell(&cols[map[c]], obj, bufs[c], sizeof(bufs[c]));
		if (cli_table_add(t, cells) < 0) {
			cli_table_free(t);
			return cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
		}
	}
	cli_table_print(t, stdout, ctx->color);
	cli_table_free(t);
	return CLI_EXIT_OK;
}

int cli_print_object(struct cli_ctx *ctx, json_object *obj, const struct cli_col *cols,
		     size_t ncols)
{
	char buf[1024];
	int w = 0;

	if (ctx->output == CLI_OUT_JSON) {
		cli_print_json(obj);
		return CLI_EXIT_OK;
	}
	for (size_t c = 0; c < ncols; c++)
		if ((int)strlen(cols[c].header) > w)
			w = (int)strlen(cols[c].header);
	for (size_t c = 0; c < ncols; c++) {
		if (cols[c].wide && ctx->output != CLI_OUT_WIDE)
			continue;
		printf("%s:%*s %s\n", cols[c].header, w - (int)strlen(cols[c].header), "",
		       cell(&cols[c], obj, buf, sizeof(buf)));
	}
	return CLI_EXIT_OK;
}
