/* SPDX-License-Identifier: MIT */
/*
 * Strict JSON over json-c: one value, valid UTF-8, bounded size and depth,
 * and object schemas where every unknown field, wrong type or value out of
 * range is an error naming the field (as a JSON pointer).
 */
#include <errno.h>
#include <string.h>

#include "common/common.h"

const struct pvm_json_limits pvm_json_default_limits = {
    .max_bytes = 1u << 20,
    .max_depth = 32,
};

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

static const struct pvm_json_field *find_field(const struct pvm_json_field *fields, size_t n,
					       const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
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
	case PVM_JSON_STRING: {
		size_t len = (size_t)json_object_get_string_len(v);

		if (len < f->min_len)
			return pvm_err_field(err, -EINVAL, ptr,
					     "field %s must be at least %zu bytes long", ptr,
					     f->min_len);
		if (f->max_len && len > f->max_len)
			return pvm_err_field(err, -EINVAL, ptr,
					     "field %s must be at most %zu bytes long", ptr,
					     f->max_len);
		if (memchr(json_object_get_string(v), '\0', len))
			return pvm_err_field(err, -EINVAL, ptr, "field %s contains a NUL byte",
					     ptr);
		break;
	}
	case PVM_JSON_ARRAY:
		if (f->max_len && json_object_array_length(v) > f->max_len)
			return pvm_err_field(err, -EINVAL, ptr,
					     "field %s must have at most %zu elements", ptr,
					     f->max_len);
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
