/* SPDX-License-Identifier: MIT */
/* Shape checks beyond pvm_json_check: labels, string lists, hook names. */
#include <errno.h>
#include <string.h>

#include "api/internal.h"
#include "hv/pv_abi.h"

bool api_hook_known(const char *s)
{
	return pv_hook_bit(s, strlen(s)) >= 0;
}

bool api_kvm_feature_known(const char *name)
{
	return pvm_kvm_feature_bit(name) >= 0;
}

int api_check_labels(json_object *obj, const char *ptr, struct pvm_err *err)
{
	char p[PVM_ERR_FIELD_MAX];
	size_t n = 0;

	if (!obj)
		return 0;
	json_object_object_foreach(obj, key, val)
	{
		size_t kl = strlen(key);

		snprintf(p, sizeof(p), "%s/%s", ptr, key);
		if (++n > 16)
			return pvm_err_field(err, -EINVAL, ptr, "at most 16 labels");
		if (kl == 0 || kl > 63 ||
		    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789._/-") != kl)
			return pvm_err_field(err, -EINVAL, p,
					     "label keys are 1..63 characters of [a-z0-9._/-]");
		if (!json_object_is_type(val, json_type_string))
			return pvm_err_field(err, -EINVAL, p, "label values must be strings");
		if (json_object_get_string_len(val) > 63 ||
		    memchr(json_object_get_string(val), '\0',
			   (size_t)json_object_get_string_len(val)))
			return pvm_err_field(err, -EINVAL, p,
					     "label values are at most 63 bytes, without NUL");
	}
	return 0;
}

int api_check_str_array(json_object *arr, const char *ptr, size_t max_len,
			bool (*known)(const char *s), struct pvm_err *err)
{
	char p[PVM_ERR_FIELD_MAX];
	size_t n;

	if (!arr)
		return 0;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		size_t len;

		snprintf(p, sizeof(p), "%s/%zu", ptr, i);
		if (!json_object_is_type(v, json_type_string))
			return pvm_err_field(err, -EINVAL, p, "field %s must be a string", p);
		len = (size_t)json_object_get_string_len(v);
		if (len == 0 || len > max_len || memchr(json_object_get_string(v), '\0', len))
			return pvm_err_field(err, -EINVAL, p, "field %s must be 1..%zu bytes", p,
					     max_len);
		if (known && !known(json_object_get_string(v)))
			return pvm_err_field(err, -EINVAL, p, "unknown name \"%s\"",
					     json_object_get_string(v));
	}
	return 0;
}

int api_host_scope(struct api_req *rq, struct api_resp *rs, const char *host_id)
{
	if (rq->role != API_ROLE_HOST)
		return 0;
	if (rq->token_host[0] && strcmp(rq->token_host, host_id) == 0)
		return 0;
	api_problem(rs, 403, API_P_FORBIDDEN, NULL, "a host token may only speak for its own host");
	return -EPERM;
}
