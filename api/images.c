/* SPDX-License-Identifier: MIT */
/* /v1/images: the images guests boot from. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "store/store.h"

static json_object *image_json(const struct store_image *im)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(im->id));
	json_object_object_add(o, "name", json_object_new_string(im->name));
	json_object_object_add(o, "format", json_object_new_string(im->format));
	json_object_object_add(o, "source", json_object_new_string(im->source ? im->source : ""));
	json_object_object_add(o, "size_bytes", json_object_new_int64(im->size_bytes));
	json_object_object_add(o, "sha256",
			       im->sha256[0] ? json_object_new_string(im->sha256) : NULL);
	json_object_object_add(o, "generation", json_object_new_int64(im->generation));
	json_object_object_add(o, "created_ms", json_object_new_int64(im->created_ms));
	return o;
}

static const char *const formats[] = {"elf", "raw", "qcow2", "kernel", "initrd", "linux"};

static const char *format_nth(unsigned i)
{
	return i < PVM_ARRAY_SIZE(formats) ? formats[i] : NULL;
}

const struct pvm_json_field api_image_fields[] = {
    {.name = "name",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = STORE_NAME_MAX - 1},
    {.name = "format",
     .type = PVM_JSON_STRING,
     .required = true,
     .min_len = 1,
     .max_len = STORE_TYPE_MAX - 1,
     .name_of = format_nth,
     .doc = "linux: a folder holding vmlinuz and initrd (packaging/guest-images/build-linux), "
	    "which kind linux guests boot"},
    {.name = "source", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 4095},
    {.name = "size_bytes", .type = PVM_JSON_INT, .max = INT64_MAX},
    {.name = "sha256", .type = PVM_JSON_STRING, .min_len = 64, .max_len = 64},
};
const size_t api_nimage_fields = PVM_ARRAY_SIZE(api_image_fields);

int api_image_find(struct store *st, const char *ref, struct store_image *out, struct pvm_err *err)
{
	int ret = store_image_get(st, ref, out, err);

	if (ret == -ENOENT)
		ret = store_image_get_by_name(st, ref, out, err);
	/* Longer than any id or name: a path. */
	if (ret == -EINVAL)
		ret = -ENOENT;
	if (ret == -ENOENT)
		memset(err, 0, sizeof(*err));
	return ret;
}

int api_h_image_create(struct api_req *rq, struct api_resp *rs)
{
	struct store_image im = {0};
	struct pvm_err err = {0};
	json_object *body;
	const char *s;
	int ret;

	if (api_body_parse(rq, rs, api_image_fields, PVM_ARRAY_SIZE(api_image_fields), &body) < 0)
		return 0;
	pvm_json_get_str(body, "format", &s);
	snprintf(im.format, sizeof(im.format), "%s", s);
	if (pvm_json_get_str(body, "sha256", &s) == 0) {
		if (strspn(s, "0123456789abcdef") != 64) {
			api_problem(rs, 400, API_P_INVALID, "/sha256",
				    "field /sha256 must be 64 lowercase hex digits");
			goto out;
		}
		snprintf(im.sha256, sizeof(im.sha256), "%s", s);
	}
	pvm_json_get_str(body, "name", &s);
	snprintf(im.name, sizeof(im.name), "%s", s);
	pvm_json_get_str(body, "source", &s);
	im.source = strdup(s);
	pvm_json_get_int(body, "size_bytes", &im.size_bytes);
	ret = store_image_create(rq->srv->cfg.store, &im, &err);
	if (ret < 0) {
		api_store_problem(rs, ret, &err);
		goto out_im;
	}
	snprintf(rs->location, sizeof(rs->location), "/v1/images/%s", im.id);
	api_set_etag(rs, im.generation);
	api_json(rs, 201, image_json(&im));
out_im:
	store_image_free(&im);
out:
	json_object_put(body);
	return 0;
}

int api_h_image_list(struct api_req *rq, struct api_resp *rs)
{
	struct store_list_opts opts = {0};
	struct store_image_list l = {0};
	struct pvm_err err = {0};
	json_object *items;
	int ret;

	if (api_page_opts(rq, rs, &opts) < 0)
		return 0;
	ret = store_image_list(rq->srv->cfg.store, &opts, &l, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	items = json_object_new_array_ext((int)l.n);
	for (size_t i = 0; i < l.n; i++)
		json_object_array_add(items, image_json(&l.items[i]));
	api_json(rs, 200, api_page_answer(items, l.next));
	store_image_list_free(&l);
	return 0;
}

int api_h_image_get(struct api_req *rq, struct api_resp *rs)
{
	struct store_image im;
	struct pvm_err err = {0};
	int ret = store_image_get(rq->srv->cfg.store, rq->params[0], &im, &err);

	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	api_set_etag(rs, im.generation);
	api_json(rs, 200, image_json(&im));
	store_image_free(&im);
	return 0;
}

int api_h_image_delete(struct api_req *rq, struct api_resp *rs)
{
	struct pvm_err err = {0};
	int64_t gen;
	int ret;

	if (api_if_match(rq, rs, &gen) < 0)
		return 0;
	ret = store_image_delete(rq->srv->cfg.store, rq->params[0], gen, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	rs->status = 204;
	return 0;
}
