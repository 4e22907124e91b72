/* SPDX-License-Identifier: MIT */
/*
 * A guest spec from the command line (or a JSON file with -f), shared by
 * `guest create` and `guest explain`. The server validates it; here only
 * what a flag's syntax can get wrong is checked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/internal.h"

/* clang-format off */
const struct cli_opt cli_guest_spec_opts[] = {
	{ "file", 'f', "FILE", "the whole spec as JSON ('-' reads stdin); flags override it" },
	{ "image", 0, "IMAGE", "image name or id" },
	{ "kind", 0, "KIND", "microguest (default), linux or libvirt" },
	{ "platform", 0, "PLATFORM", "the hv platform the guest must run on: kvm or process" },
	{ "vcpus", 0, "N", "virtual CPUs (default 1)" },
	{ "memory", 'm', "MIB", "memory in MiB (default 64)" },
	{ "disk", 0, "GIB", "disk in GiB (a sparse scratch disk on the host)" },
	{ "cmdline", 0, "ARGS", "the guest's command line (e.g. 'bytes=65536')" },
	{ "require", 0, "HOOK", "a pv hook the guest requires (repeatable)" },
	{ "prefer", 0, "HOOK", "a pv hook the guest prefers (repeatable)" },
	{ "emulated", 0, NULL, "the guest needs emulated devices" },
	{ "label", 'l', "KEY=VALUE", "a label (repeatable)" },
	{ "selector", 0, "EXPR", "host label selector (see the API's spec)" },
	{ "anti-affinity", 0, "GROUP", "never share a host with guests of this group" },
	{ "restart", 0, "POLICY", "never, on-failure or always" },
};
/* clang-format on */

_Static_assert(PVM_ARRAY_SIZE(cli_guest_spec_opts) == CLI_GUEST_SPEC_NOPTS, "spec options");

static int read_file(struct cli_ctx *ctx, const char *path, json_object **out)
{
	struct pvm_err err = {0};
	struct pvm_buf b;
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char chunk[4096];
	size_t n;
	int ret = CLI_EXIT_OK;

	if (!fp)
		return cli_usage_error(ctx, "%s: %s", path, strerror(errno));
	pvm_buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		pvm_buf_append(&b, chunk, n);
	if (ferror(fp) || b.failed)
		ret = cli_usage_error(ctx, "%s: cannot read", path);
	else if (pvm_json_parse(b.data ? b.data : "", b.len, &pvm_json_default_limits, out, &err) <
		 0)
		ret = cli_usage_error(ctx, "%s: %s", path, err.msg);
	else if (!json_object_is_type(*out, json_type_object))
		ret = cli_usage_error(ctx, "%s: a spec is a JSON object", path);
	if (fp != stdin)
		fclose(fp);
	pvm_buf_free(&b);
	return ret;
}

static int set_int(struct cli_ctx *ctx, const struct cli_args *a, json_object *spec,
		   const char *opt, const char *key, int64_t min, int64_t max)
{
	int64_t v;
	int ret = cli_arg_int(ctx, a, opt, min, max, &v);

	if (ret == CLI_EXIT_USAGE)
		return ret;
	if (ret == 0)
		json_object_object_add(spec, key, json_object_new_int64(v));
	return CLI_EXIT_OK;
}

static json_object *sub_object(json_object *spec, const char *key)
{
	json_object *o;

	if (json_object_object_get_ex(spec, key, &o) && json_object_is_type(o, json_type_object))
		return o;
	o = json_object_new_object();
	json_object_object_add(spec, key, o);
	return o;
}

static void set_list(json_object *obj, const char *key, const char **vals, size_t n)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(vals[i]));
	json_object_object_add(obj, key, arr);
}

static int set_str(json_object *spec, const struct cli_args *a, const char *opt, const char *key)
{
	const char *v = cli_arg(a, opt);

	if (v)
		json_object_object_add(spec, key, json_object_new_string(v));
	return 0;
}

int cli_guest_spec(struct cli_ctx *ctx, const struct cli_args *a, json_object **out)
{
	const char *file = cli_arg(a, "file");
	json_object *spec = NULL;
	const char **vals;
	size_t n;
	int ret;

	*out = NULL;
	if (file) {
		ret = read_file(ctx, file, &spec);
		if (ret != CLI_EXIT_OK)
			goto fail;
	} else {
		spec = json_object_new_object();
	}
	set_str(spec, a, "image", "image");
	set_str(spec, a, "kind", "kind");
	set_str(spec, a, "platform", "platform");
	set_str(spec, a, "selector", "selector");
	set_str(spec, a, "anti-affinity", "anti_affinity");
	set_str(spec, a, "restart", "restart_policy");
	set_str(spec, a, "cmdline", "cmdline");
	ret = set_int(ctx, a, spec, "vcpus", "vcpus", 1, PVM_GUEST_VCPUS_MAX);
	if (ret == CLI_EXIT_OK)
		ret = set_int(ctx, a, spec, "memory", "memory_mib", 1, PVM_GUEST_MEMORY_MIB_MAX);
	if (ret == CLI_EXIT_OK)
		ret = set_int(ctx, a, spec, "disk", "disk_gib", 0, PVM_GUEST_DISK_GIB_MAX);
	if (ret != CLI_EXIT_OK)
		goto fail;
	if ((n = cli_arg_all(a, "require", &vals)) > 0)
		set_list(sub_object(spec, "pv"), "hooks_required", vals, n);
	if ((n = cli_arg_all(a, "prefer", &vals)) > 0)
		set_list(sub_object(spec, "pv"), "hooks_preferred", vals, n);
	if (cli_flag(a, "emulated"))
		json_object_object_add(sub_object(spec, "pv"), "needs_emulation",
				       json_object_new_boolean(true));
	n = cli_arg_all(a, "label", &vals);
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(vals[i], '=');
		char *key;

		if (!eq || eq == vals[i]) {
			ret = cli_usage_error(ctx, "--label %s: expected KEY=VALUE", vals[i]);
			goto fail;
		}
		key = strndup(vals[i], (size_t)(eq - vals[i]));
		if (!key) {
			ret = cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
			goto fail;
		}
		json_object_object_add(sub_object(spec, "labels"), key,
				       json_object_new_string(eq + 1));
		free(key);
	}
	/* The API requires sizes; a quick `guest create NAME --image X` gets small ones. */
	if (!cli_field(spec, "vcpus"))
		json_object_object_add(spec, "vcpus", json_object_new_int(1));
	if (!cli_field(spec, "memory_mib"))
		json_object_object_add(spec, "memory_mib", json_object_new_int(64));
	*out = spec;
	return CLI_EXIT_OK;
fail:
	json_object_put(spec);
	return ret;
}
