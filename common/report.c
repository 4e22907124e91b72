/* SPDX-License-Identifier: MIT */
/*
 * The statistics report (common.h): its one encoder and its one decoder, the
 * strict one the controller's API and pvmd both use, so whatever the VMM
 * says is checked by the same rules at every hop.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "hv/pv_abi.h"

_Static_assert(PVM_REPORT_HOOKS_MAX >= PV_HOOK_COUNT, "every hook fits in a report");

const struct pvm_json_field pvm_report_fields[] = {PVM_REPORT_FIELDS};
const size_t pvm_nreport_fields = PVM_ARRAY_SIZE(pvm_report_fields);

static const struct pvm_json_field cap_fields[] = {
    {.name = "name",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = PVM_REPORT_NAME_MAX - 1},
    {.name = "state", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 32},
    {.name = "abi_version", .type = PVM_JSON_INT, .max = 65535},
    {.name = "reason", .type = PVM_JSON_STRING, .max_len = PVM_REPORT_REASON_MAX - 1},
};

static const struct pvm_json_field hook_fields[] = {
    {.name = "hook",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = PVM_REPORT_NAME_MAX - 1},
    {.name = "calls", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "doorbells", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "bytes", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "errors", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "exits_avoided", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "histogram", .type = PVM_JSON_OBJECT},
};

static const struct pvm_json_field histogram_fields[] = {
    {.name = "service_ns_total", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "service_ns_log2", .type = PVM_JSON_ARRAY, .max_len = PVM_REPORT_BUCKETS_MAX},
};

/* base + "/" + leaf as a JSON pointer; a cut one only shortens an error's field. */
static void join(char *out, size_t len, const char *base, const char *leaf)
{
	if ((size_t)snprintf(out, len, "%s/%s", base, leaf) >= len)
		out[len - 1] = '\0';
}

/* ---- encoding ------------------------------------------------------------ */

/* Adds v to o under k, or to array o when k is NULL; false (v dropped) when v is
 * NULL (out of memory) or the add fails. */
static bool put(json_object *o, const char *k, json_object *v)
{
	if (v && (k ? json_object_object_add(o, k, v) : json_object_array_add(o, v)) == 0)
		return true;
	json_object_put(v);
	return false;
}

static bool put_i64(json_object *o, const char *k, int64_t v)
{
	return put(o, k, json_object_new_int64(v));
}

/* o when every member went in, else NULL (o dropped). */
static json_object *built(json_object *o, bool ok)
{
	if (ok)
		return o;
	json_object_put(o);
	return NULL;
}

json_object *pvm_report_histogram_json(const struct pvm_report_hook *h)
{
	json_object *o, *a;
	bool ok;

	if (!h->has_histogram)
		return NULL;
	o = json_object_new_object();
	if (!o)
		return NULL;
	a = json_object_new_array_ext((int)h->nbuckets);
	ok = put_i64(o, "service_ns_total", h->service_ns_total) && put(o, "service_ns_log2", a);
	for (size_t b = 0; ok && b < h->nbuckets; b++)
		ok = put_i64(a, NULL, h->service_ns_log2[b]);
	return built(o, ok);
}

static json_object *hook_json(const struct pvm_report_hook *h)
{
	json_object *o = json_object_new_object();
	bool ok = o && put(o, "hook", json_object_new_string(pv_hook_name(h->hook))) &&
		  put_i64(o, "calls", h->calls) && put_i64(o, "doorbells", h->doorbells) &&
		  put_i64(o, "bytes", h->bytes) && put_i64(o, "errors", h->errors) &&
		  put_i64(o, "exits_avoided", h->exits_avoided) &&
		  (!h->has_histogram || put(o, "histogram", pvm_report_histogram_json(h)));

	return built(o, ok);
}

static json_object *cap_json(const struct pvm_report_cap *c)
{
	json_object *o = json_object_new_object();
	bool ok = o && put(o, "name", json_object_new_string(c->name)) &&
		  put(o, "state", json_object_new_string(c->accepted ? "accepted" : "refused")) &&
		  put_i64(o, "abi_version", c->abi_version) &&
		  (!c->reason[0] || put(o, "reason", json_object_new_string(c->reason)));

	return built(o, ok);
}

int pvm_report_encode(const struct pvm_report *r, json_object *obj)
{
	json_object *v;

	if (r->has_platform &&
	    !put(obj, "platform", json_object_new_string(pvm_platform_name(r->platform))))
		return -ENOMEM;
	if (r->has_caps) {
		v = json_object_new_array_ext((int)r->ncaps);
		if (!put(obj, "capabilities", v))
			return -ENOMEM;
		for (size_t i = 0; i < r->ncaps; i++)
			if (!put(v, NULL, cap_json(&r->caps[i])))
				return -ENOMEM;
	}
	if (r->has_hooks) {
		v = json_object_new_array_ext((int)r->nhooks);
		if (!put(obj, "hook_stats", v))
			return -ENOMEM;
		for (size_t i = 0; i < r->nhooks; i++)
			if (!put(v, NULL, hook_json(&r->hooks[i])))
				return -ENOMEM;
	}
	if (r->has_exits) {
		v = json_object_new_object();
		if (!put(obj, "exits", v))
			return -ENOMEM;
		for (size_t i = 0; i < r->nexits; i++)
			if (!put_i64(v, r->exits[i].reason, r->exits[i].count))
				return -ENOMEM;
	}
	return 0;
}

/* ---- decoding ------------------------------------------------------------ */

bool pvm_report_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > PVM_REPORT_NAME_MAX - 1)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int count_check(json_object *v, const char *path, struct pvm_err *err)
{
	if (!json_object_is_type(v, json_type_int))
		return pvm_err_field(err, -EINVAL, path, "must be an integer");
	if (json_object_get_int64(v) < 0)
		return pvm_err_field(err, -EINVAL, path, "must not be negative");
	return 0;
}

int pvm_report_map_check(json_object *o, const char *path,
			 int (*check)(json_object *v, const char *path, struct pvm_err *err),
			 struct pvm_err *err)
{
	char p[PVM_ERR_FIELD_MAX];
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return pvm_err_field(err, -EINVAL, path, "field %s must be an object", path);
	if (json_object_object_length(o) > PVM_REPORT_MAP_MAX)
		return pvm_err_field(err, -EINVAL, path, "at most %d entries", PVM_REPORT_MAP_MAX);
	json_object_object_foreach(o, key, v)
	{
		join(p, sizeof(p), path, key);
		if (!pvm_report_name_ok(key))
			return pvm_err_field(err, -EINVAL, path,
					     "\"%.64s\": a name is 1..%d of [a-z0-9_]", key,
					     PVM_REPORT_NAME_MAX - 1);
		ret = (check ? check : count_check)(v, p, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int histogram_decode(json_object *o, const char *path, struct pvm_report_hook *h,
			    struct pvm_err *err)
{
	json_object *a = NULL;
	char p[PVM_ERR_FIELD_MAX], leaf[48];
	int ret;

	ret = pvm_json_check(o, path, histogram_fields, PVM_ARRAY_SIZE(histogram_fields), err);
	if (ret < 0)
		return ret;
	h->has_histogram = true;
	pvm_json_get_int(o, "service_ns_total", &h->service_ns_total);
	if (!json_object_object_get_ex(o, "service_ns_log2", &a) || !a)
		return 0;
	h->nbuckets = json_object_array_length(a);
	for (size_t b = 0; b < h->nbuckets; b++) {
		json_object *v = json_object_array_get_idx(a, b);

		snprintf(leaf, sizeof(leaf), "service_ns_log2/%zu", b);
		join(p, sizeof(p), path, leaf);
		ret = count_check(v, p, err);
		if (ret < 0)
			return ret;
		h->service_ns_log2[b] = json_object_get_int64(v);
	}
	return 0;
}

static int hook_decode(json_object *e, const char *path, struct pvm_report *r, struct pvm_err *err)
{
	struct pvm_report_hook *h = &r->hooks[r->nhooks];
	json_object *hist = NULL;
	char p[PVM_ERR_FIELD_MAX];
	const char *s;
	int bit, ret;

	ret = pvm_json_check(e, path, hook_fields, PVM_ARRAY_SIZE(hook_fields), err);
	if (ret < 0)
		return ret;
	pvm_json_get_str(e, "hook", &s);
	bit = pv_hook_bit(s, strlen(s));
	if (bit < 0)
		return pvm_err_field(err, -EINVAL, path, "unknown hook \"%s\"", s);
	for (size_t i = 0; i < r->nhooks; i++)
		if (r->hooks[i].hook == (unsigned int)bit)
			return pvm_err_field(err, -EINVAL, path, "hook \"%s\" reported twice", s);
	h->hook = (unsigned int)bit;
	pvm_json_get_int(e, "calls", &h->calls);
	pvm_json_get_int(e, "doorbells", &h->doorbells);
	pvm_json_get_int(e, "bytes", &h->bytes);
	pvm_json_get_int(e, "errors", &h->errors);
	pvm_json_get_int(e, "exits_avoided", &h->exits_avoided);
	if (json_object_object_get_ex(e, "histogram", &hist) && hist) {
		join(p, sizeof(p), path, "histogram");
		ret = histogram_decode(hist, p, h, err);
		if (ret < 0)
			return ret;
	}
	r->nhooks++;
	return 0;
}

static int cap_decode(json_object *e, const char *path, struct pvm_report *r, struct pvm_err *err)
{
	struct pvm_report_cap *c = &r->caps[r->ncaps];
	const char *s;
	int ret;

	ret = pvm_json_check(e, path, cap_fields, PVM_ARRAY_SIZE(cap_fields), err);
	if (ret < 0)
		return ret;
	pvm_json_get_str(e, "name", &s);
	if (pv_hook_bit(s, strlen(s)) < 0 && strncmp(s, "kvm:", 4) != 0)
		return pvm_err_field(err, -EINVAL, path,
				     "unknown capability \"%s\" (a hook or kvm:NAME)", s);
	snprintf(c->name, sizeof(c->name), "%s", s);
	pvm_json_get_str(e, "state", &s);
	if (strcmp(s, "accepted") != 0 && strcmp(s, "refused") != 0)
		return pvm_err_field(err, -EINVAL, path,
				     "a guest capability is accepted or refused");
	c->accepted = s[0] == 'a';
	pvm_json_get_int(e, "abi_version", &c->abi_version);
	if (pvm_json_get_str(e, "reason", &s) == 0)
		snprintf(c->reason, sizeof(c->reason), "%s", s);
	r->ncaps++;
	return 0;
}

/* Each element of the array member k (at most max) through fn, as k/i. */
static int array_decode(json_object *obj, const char *path, const char *k, size_t max,
			int (*fn)(json_object *e, const char *path, struct pvm_report *r,
				  struct pvm_err *err),
			struct pvm_report *r, struct pvm_err *err)
{
	json_object *a = NULL;
	char p[PVM_ERR_FIELD_MAX], leaf[PVM_REPORT_NAME_MAX];
	int ret;

	json_object_object_get_ex(obj, k, &a);
	join(p, sizeof(p), path, k);
	/* a caller's schema may allow more than the struct holds */
	if (json_object_array_length(a) > max)
		return pvm_err_field(err, -EINVAL, p, "field %s must have at most %zu elements", p,
				     max);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		snprintf(leaf, sizeof(leaf), "%s/%zu", k, i);
		join(p, sizeof(p), path, leaf);
		ret = fn(json_object_array_get_idx(a, i), p, r, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int pvm_report_decode(json_object *obj, const char *path, const struct pvm_json_field *fields,
		      size_t nfields, struct pvm_report *out, struct pvm_err *err)
{
	json_object *v = NULL;
	char p[PVM_ERR_FIELD_MAX];
	const char *s;
	int ret, id;

	memset(out, 0, sizeof(*out));
	if (!path)
		path = "";
	if (!fields) {
		fields = pvm_report_fields;
		nfields = pvm_nreport_fields;
	}
	ret = pvm_json_check(obj, path, fields, nfields, err);
	if (ret < 0)
		return ret;
	if (pvm_json_get_str(obj, "platform", &s) == 0) {
		id = pvm_platform_id(s);
		join(p, sizeof(p), path, "platform");
		if (id < 0)
			return pvm_err_field(err, -EINVAL, p, "unknown platform \"%.32s\"", s);
		out->has_platform = true;
		out->platform = (enum pvm_platform)id;
	}
	if (json_object_object_get_ex(obj, "capabilities", &v) && v) {
		out->has_caps = true;
		ret = array_decode(obj, path, "capabilities", PVM_REPORT_CAPS_MAX, cap_decode, out,
				   err);
		if (ret < 0)
			return ret;
	}
	if (json_object_object_get_ex(obj, "hook_stats", &v) && v) {
		out->has_hooks = true;
		ret = array_decode(obj, path, "hook_stats", PVM_REPORT_HOOKS_MAX, hook_decode, out,
				   err);
		if (ret < 0)
			return ret;
	}
	if (json_object_object_get_ex(obj, "exits", &v) && v) {
		join(p, sizeof(p), path, "exits");
		ret = pvm_report_map_check(v, p, NULL, err);
		if (ret < 0)
			return ret;
		out->has_exits = true;
		json_object_object_foreach(v, key, n)
		{
			struct pvm_report_exit *x = &out->exits[out->nexits++];

			snprintf(x->reason, sizeof(x->reason), "%s", key);
			x->count = json_object_get_int64(n);
		}
	}
	return 0;
}
