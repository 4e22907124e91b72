/* SPDX-License-Identifier: MIT */
/*
 * Strict JSON over json-c: one value, valid UTF-8, bounded size and depth,
 * and object schemas where every unknown field, wrong type or value out of
 * range is an error naming the field (as a JSON pointer).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

const struct pvm_json_limits pvm_json_default_limits = {
    .max_bytes = 1u << 20,
    .max_depth = 32,
};

/* Appends a JSON pointer reference token, escaping '~' and '/' (RFC 6901). */
static void pointer_join(char *out, size_t outlen, const char *path, const char *name)
{
	size_t n = (size_t)snprintf(out, outlen, "%s/", path);

	for (const char *p = name; *p && n + 3 < outlen; p++) {
		if (*p == '~' || *p == '/') {
			out[n++] = '~';
			out[n++] = *p == '~' ? '0' : '1';
		} else {
			out[n++] = *p;
		}
	}
	out[n < outlen ? n : outlen - 1] = '\0';
}

/*
 * json-c keeps the last of duplicate keys and clamps integers outside int64,
 * so a second pass over the (already validated) text refuses both, naming
 * the value by its JSON pointer.
 */
struct scan {
	const char *p, *end;
	struct pvm_buf key;
	struct pvm_err *err;
	bool reported; /* err holds the message */
};

static void scan_ws(struct scan *s)
{
	while (s->p < s->end && strchr(" \t\r\n", *s->p))
		s->p++;
}

static void put_utf8(struct pvm_buf *b, uint32_t c)
{
	char u[4];
	size_t n;

	if (c < 0x80) {
		u[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (c >> 18));
		u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	pvm_buf_append(b, u, n);
}

static uint32_t hex4(const char *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v = v * 16 + (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* Skips the string at s->p; with out, decodes it there (surrogate pairs joined). */
static int scan_string(struct scan *s, struct pvm_buf *out)
{
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
	uint32_t c, lo;

	if (out)
		pvm_buf_reset(out);
	s->p++;
	while (s->p < s->end && *s->p != '"') {
		if (*s->p != '\\') {
			if (out)
				pvm_buf_append(out, s->p, 1);
			s->p++;
			continue;
		}
		if (s->end - s->p < 2)
			return -EINVAL;
		if (s->p[1] != 'u') {
			const char *e = strchr(esc_in, s->p[1]);

			if (!e || !*e)
				return -EINVAL;
			if (out)
				pvm_buf_append(out, &esc_out[e - esc_in], 1);
			s->p += 2;
			continue;
		}
		if (s->end - s->p < 6)
			return -EINVAL;
		c = hex4(s->p + 2);
		s->p += 6;
		if (c >= 0xd800 && c < 0xdc00 && s->end - s->p >= 6 && s->p[0] == '\\' &&
		    s->p[1] == 'u') {
			lo = hex4(s->p + 2);
			if (lo >= 0xdc00 && lo < 0xe000) {
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				s->p += 6;
			}
		}
		if (out)
			put_utf8(out, c);
	}
	if (s->p >= s->end)
		return -EINVAL;
	s->p++;
	if (out && (out->failed || !out->data))
		return out->failed ? -ENOMEM : pvm_buf_append(out, "", 0);
	return 0;
}

static int scan_number(struct scan *s, const char *ptr)
{
	const char *start = s->p;
	bool integer = true;
	char num[32], *e;
	size_t n;

	while (s->p < s->end && strchr("+-0123456789.eE", *s->p)) {
		if (strchr(".eE", *s->p))
			integer = false;
		s->p++;
	}
	n = (size_t)(s->p - start);
	if (!integer)
		return 0;
	/* "-9223372036854775808" is 20 characters; JSON has no leading zeros. */
	if (n < sizeof(num)) {
		memcpy(num, start, n);
		num[n] = '\0';
		errno = 0;
		(void)strtoll(num, &e, 10);
		if (errno == 0 && *e == '\0')
			return 0;
	}
	s->reported = true;
	return pvm_err_field(s->err, -ERANGE, ptr, "%s%s: integer %.*s%s is out of range",
			     *ptr ? "field " : "", *ptr ? ptr : "document", n > 24 ? 24 : (int)n,
			     start, n > 24 ? "..." : "");
}

static int scan_value(struct scan *s, const char *ptr);

static int scan_array(struct scan *s, const char *ptr)
{
	char sub[PVM_ERR_FIELD_MAX];
	int ret;

	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (size_t i = 0;; i++) {
		snprintf(sub, sizeof(sub), "%s/%zu", ptr, i);
		ret = scan_value(s, sub);
		if (ret < 0)
			return ret;
		scan_ws(s);
		if (s->p >= s->end)
			return -EINVAL;
		if (*s->p++ == ']')
			return 0;
	}
}

static int scan_object(struct scan *s, const char *ptr)
{
	char sub[PVM_ERR_FIELD_MAX];
	json_object *seen;
	int ret;

	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	seen = json_object_new_object();
	if (!seen)
		return -ENOMEM;
	for (;;) {
		scan_ws(s);
		ret = s->p < s->end && *s->p == '"' ? scan_string(s, &s->key) : -EINVAL;
		if (ret < 0)
			break;
		pointer_join(sub, sizeof(sub), ptr, s->key.data);
		if (json_object_object_get_ex(seen, s->key.data, NULL)) {
			s->reported = true;
			ret = pvm_err_field(s->err, -EINVAL, sub, "duplicate key \"%s\" at %s",
					    s->key.data, sub);
			break;
		}
		if (json_object_object_add(seen, s->key.data, NULL) < 0) {
			ret = -ENOMEM;
			break;
		}
		scan_ws(s);
		if (s->p >= s->end || *s->p != ':') {
			ret = -EINVAL;
			break;
		}
		s->p++;
		ret = scan_value(s, sub);
		if (ret < 0)
			break;
		scan_ws(s);
		if (s->p >= s->end) {
			ret = -EINVAL;
			break;
		}
		if (*s->p++ == '}')
			break;
	}
	json_object_put(seen);
	return ret;
}

static int scan_value(struct scan *s, const char *ptr)
{
	scan_ws(s);
	if (s->p >= s->end)
		return -EINVAL;
	switch (*s->p) {
	case '"':
		return scan_string(s, NULL);
	case '[':
		return scan_array(s, ptr);
	case '{':
		return scan_object(s, ptr);
	case 't':
	case 'n':
		s->p += 4;
		return 0;
	case 'f':
		s->p += 5;
		return 0;
	default:
		return scan_number(s, ptr);
	}
}

static int scan_document(const char *buf, size_t len, struct pvm_err *err)
{
	struct scan s = {.p = buf, .end = buf + len, .err = err};
	int ret;

	pvm_buf_init(&s.key);
	ret = scan_value(&s, "");
	pvm_buf_free(&s.key);
	if (ret < 0 && !s.reported)
		return ret == -ENOMEM ? pvm_err_set(err, ret, "out of memory")
				      : pvm_err_field(err, ret, "", "malformed JSON");
	return ret;
}

int pvm_json_parse(const char *buf, size_t len, const struct pvm_json_limits *limits,
		   json_object **out, struct pvm_err *err)
{
	const struct pvm_json_limits *lim = limits ? limits : &pvm_json_default_limits;
	struct json_tokener *tok;
	json_object *obj = NULL;
	enum json_tokener_error jerr;
	size_t end;
	int ret = 0;

	*out = NULL;
	if (len == 0)
		return pvm_err_field(err, -EINVAL, "", "empty document");
	if (len > lim->max_bytes)
		return pvm_err_field(err, -E2BIG, "", "document is %zu bytes, the limit is %zu",
				     len, lim->max_bytes);
	if (memchr(buf, '\0', len))
		return pvm_err_field(err, -EINVAL, "", "document contains a NUL byte");

	tok = json_tokener_new_ex(lim->max_depth);
	if (!tok)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	/* A document that ends in a number ("12") is only complete once json-c
	 * sees the terminating NUL; feeding it is how the end is signalled. */
	if (jerr == json_tokener_continue) {
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
		if (jerr == json_tokener_error_parse_eof)
			jerr = json_tokener_continue;
	}
	if (jerr == json_tokener_continue) {
		ret = pvm_err_field(err, -EINVAL, "", "malformed JSON: unexpected end of input");
		goto out;
	}
	if (jerr != json_tokener_success) {
		ret =
		    pvm_err_field(err, -EINVAL, "", "malformed JSON at byte %zu: %s", end,
				  jerr == json_tokener_error_depth ? "nesting deeper than the limit"
								   : json_tokener_error_desc(jerr));
		goto out;
	}
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", buf[end])) {
			ret = pvm_err_field(err, -EINVAL, "",
					    "malformed JSON: trailing data at byte %zu", end);
			goto out;
		}
	}
	ret = scan_document(buf, len, err);
	if (ret < 0)
		goto out;
	*out = obj;
	obj = NULL;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return ret;
}

const char *pvm_json_type_name(enum pvm_json_type type)
{
	switch (type) {
	case PVM_JSON_STRING:
		return "string";
	case PVM_JSON_INT:
		return "integer";
	case PVM_JSON_DOUBLE:
		return "number";
	case PVM_JSON_BOOL:
		return "boolean";
	case PVM_JSON_OBJECT:
		return "object";
	case PVM_JSON_ARRAY:
		return "array";
	}
	return "unknown";
}

static bool type_matches(json_object *v, enum pvm_json_type type)
{
	switch (type) {
	case PVM_JSON_STRING:
		return json_object_is_type(v, json_type_string);
	case PVM_JSON_INT:
		return json_object_is_type(v, json_type_int);
	case PVM_JSON_DOUBLE:
		return json_object_is_type(v, json_type_int) ||
		       json_object_is_type(v, json_type_double);
	case PVM_JSON_BOOL:
		return json_object_is_type(v, json_type_boolean);
	case PVM_JSON_OBJECT:
		return json_object_is_type(v, json_type_object);
	case PVM_JSON_ARRAY:
		return json_object_is_type(v, json_type_array);
	}
	return false;
}

static const struct pvm_json_field *find_field(const struct pvm_json_field *fields, size_t n,
					       const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

/* "a, b, c": the values name_of allows, for an error message. */
static void allowed_list(const struct pvm_json_field *f, char *buf, size_t len)
{
	const char *n;
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; (n = f->name_of(i)) && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", n);
}

static bool allowed(const struct pvm_json_field *f, const char *s)
{
	const char *n;

	for (unsigned i = 0; (n = f->name_of(i)); i++)
		if (strcmp(n, s) == 0)
			return true;
	return false;
}

static int check_value(json_object *v, const struct pvm_json_field *f, const char *ptr,
		       struct pvm_err *err);

static int check_string(json_object *v, const struct pvm_json_field *f, const char *ptr,
			struct pvm_err *err)
{
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	char list[256];

	if (len < f->min_len)
		return pvm_err_field(err, -EINVAL, ptr, "field %s must be at least %zu bytes long",
				     ptr, f->min_len);
	if (f->max_len && len > f->max_len)
		return pvm_err_field(err, -EINVAL, ptr, "field %s must be at most %zu bytes long",
				     ptr, f->max_len);
	if (memchr(s, '\0', len))
		return pvm_err_field(err, -EINVAL, ptr, "field %s contains a NUL byte", ptr);
	if (f->name_chars && strspn(s, PVM_JSON_NAME_CHARS) != len)
		return pvm_err_field(err, -EINVAL, ptr,
				     "field %s: names are letters, digits, '.', '_' and '-'", ptr);
	if (f->name_of && !allowed(f, s)) {
		allowed_list(f, list, sizeof(list));
		return pvm_err_field(err, -EINVAL, ptr, "field %s must be one of %s", ptr, list);
	}
	return 0;
}

static int check_array(json_object *v, const struct pvm_json_field *f, const char *ptr,
		       struct pvm_err *err)
{
	size_t n = json_object_array_length(v);
	char p[PVM_ERR_FIELD_MAX];
	int ret;

	if (f->max_len && n > f->max_len)
		return pvm_err_field(err, -EINVAL, ptr, "field %s must have at most %zu elements",
				     ptr, f->max_len);
	for (size_t i = 0; f->item && i < n; i++) {
		json_object *e = json_object_array_get_idx(v, i);

		snprintf(p, sizeof(p), "%s/%zu", ptr, i);
		ret = check_value(e, f->item, p, err);
		if (ret < 0)
			return ret;
		if (!f->unique || !json_object_is_type(e, json_type_string))
			continue;
		for (size_t j = 0; j < i; j++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(v, j)),
				   json_object_get_string(e)) == 0)
				return pvm_err_field(err, -EINVAL, p,
						     "field %s: \"%s\" named twice", p,
						     json_object_get_string(e));
	}
	return 0;
}

static int check_value(json_object *v, const struct pvm_json_field *f, const char *ptr,
		       struct pvm_err *err)
{
	if (!v) {
		if (f->nullable)
			return 0;
		return pvm_err_field(err, -EINVAL, ptr, "field %s must not be null", ptr);
	}
	if (!type_matches(v, f->type))
		return pvm_err_field(err, -EINVAL, ptr, "field %s must be %s %s", ptr,
				     f->type == PVM_JSON_INT || f->type == PVM_JSON_ARRAY ||
					     f->type == PVM_JSON_OBJECT
					 ? "an"
					 : "a",
				     pvm_json_type_name(f->type));
	switch (f->type) {
	case PVM_JSON_INT: {
		int64_t x = json_object_get_int64(v);

		if (x < f->min || x > f->max)
			return pvm_err_field(err, -ERANGE, ptr,
					     "field %s must be between %lld and %lld", ptr,
					     (long long)f->min, (long long)f->max);
		break;
	}
	case PVM_JSON_STRING:
		return check_string(v, f, ptr, err);
	case PVM_JSON_ARRAY:
		return check_array(v, f, ptr, err);
	case PVM_JSON_OBJECT:
		if (f->fields)
			return pvm_json_check(v, ptr, f->fields, f->nfields, err);
		break;
	default:
		break;
	}
	return 0;
}

int pvm_json_check(json_object *obj, const char *path, const struct pvm_json_field *fields,
		   size_t nfields, struct pvm_err *err)
{
	char ptr[PVM_ERR_FIELD_MAX];
	int ret;

	if (!path)
		path = "";
	if (!json_object_is_type(obj, json_type_object))
		return pvm_err_field(err, -EINVAL, path, "%s%s must be an object",
				     *path ? "field " : "", *path ? path : "document");

	json_object_object_foreach(obj, key, val)
	{
		const struct pvm_json_field *f = find_field(fields, nfields, key);

		pointer_join(ptr, sizeof(ptr), path, key);
		if (!f)
			return pvm_err_field(err, -EINVAL, ptr, "unknown field %s", ptr);
		ret = check_value(val, f, ptr, err);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < nfields; i++) {
		if (!fields[i].required || json_object_object_get_ex(obj, fields[i].name, NULL))
			continue;
		pointer_join(ptr, sizeof(ptr), path, fields[i].name);
		return pvm_err_field(err, -EINVAL, ptr, "missing required field %s", ptr);
	}
	return 0;
}

static json_object *get_present(json_object *obj, const char *name)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(obj, name, &v))
		return NULL;
	return v; /* NULL for a JSON null */
}

int pvm_json_get_str(json_object *obj, const char *name, const char **out)
{
	json_object *v = get_present(obj, name);

	if (!v || !json_object_is_type(v, json_type_string))
		return -ENOENT;
	*out = json_object_get_string(v);
	return 0;
}

int pvm_json_get_int(json_object *obj, const char *name, int64_t *out)
{
	json_object *v = get_present(obj, name);

	if (!v || !json_object_is_type(v, json_type_int))
		return -ENOENT;
	*out = json_object_get_int64(v);
	return 0;
}

int pvm_json_get_double(json_object *obj, const char *name, double *out)
{
	json_object *v = get_present(obj, name);

	if (!v ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return -ENOENT;
	*out = json_object_get_double(v);
	return 0;
}

int pvm_json_get_bool(json_object *obj, const char *name, bool *out)
{
	json_object *v = get_present(obj, name);

	if (!v || !json_object_is_type(v, json_type_boolean))
		return -ENOENT;
	*out = json_object_get_boolean(v);
	return 0;
}
