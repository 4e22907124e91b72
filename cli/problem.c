/* SPDX-License-Identifier: MIT */
/*
 * Error answers: an RFC 9457 problem document (or whatever a proxy sent)
 * becomes one line for stderr and one exit code.
 */
#include <string.h>

#include "cli/internal.h"

/* The type URI's last segment, so a change of base URI keeps working. */
static bool type_is(const char *type, const char *slug)
{
	const char *last;

	if (!type)
		return false;
	last = strrchr(type, '/');
	return strcmp(last ? last + 1 : type, slug) == 0;
}

int cli_exit_for_status(long status, const char *problem_type)
{
	if (status >= 200 && status < 300)
		return CLI_EXIT_OK;
	if (type_is(problem_type, "no-host"))
		return CLI_EXIT_NO_HOST;
	switch (status) {
	case 400: /* the request itself was wrong: the operator's input */
	case 413:
	case 415:
	case 422:
		return CLI_EXIT_USAGE;
	case 401:
	case 403:
		return CLI_EXIT_AUTH;
	case 404:
		return CLI_EXIT_NOT_FOUND;
	case 409:
	case 412:
		return CLI_EXIT_CONFLICT;
	default:
		return CLI_EXIT_SERVER;
	}
}

static const char *str_member(json_object *o, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Keeps a line one line: control characters from the server become spaces. */
static void append_clean(struct pvm_buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		char c = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];

		pvm_buf_append(out, &c, 1);
	}
}

int cli_problem_describe(long status, const char *body, size_t len, struct pvm_buf *out)
{
	const char *type = NULL, *title, *detail, *field;
	json_object *doc = NULL;
	int code;

	if (body && len && pvm_json_parse(body, len, &pvm_json_default_limits, &doc, NULL) == 0 &&
	    json_object_is_type(doc, json_type_object)) {
		type = str_member(doc, "type");
		title = str_member(doc, "title");
		detail = str_member(doc, "detail");
		field = str_member(doc, "field");
		if (!field)
			field = str_member(doc, "pointer");
		if (title || detail) {
			append_clean(out, title ? title : "error", SIZE_MAX);
			if (detail && (!title || strcmp(detail, title) != 0)) {
				pvm_buf_append(out, ": ", 2);
				append_clean(out, detail, SIZE_MAX);
			}
			if (field && field[0]) {
				pvm_buf_append(out, " (field ", 8);
				append_clean(out, field, SIZE_MAX);
				pvm_buf_append(out, ")", 1);
			}
			pvm_buf_printf(out, " [HTTP %ld]", status);
			goto done;
		}
	}
	/* Not a problem document: the status and the start of the body. */
	pvm_buf_printf(out, "HTTP %ld", status);
	while (body && len &&
	       (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
		len--;
	if (body && len) {
		pvm_buf_append(out, ": ", 2);
		append_clean(out, body, len < 200 ? len : 200);
	}
done:
	code = cli_exit_for_status(status, type);
	json_object_put(doc);
	return code;
}
