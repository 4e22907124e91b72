/* SPDX-License-Identifier: MIT */
/*
 * Layered configuration: default < INI file (libinih) < PVM_* environment <
 * command-line flag. Later layers overwrite earlier ones, so callers load in
 * that order; the source of every value is kept for diagnostics.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "common/common.h"

#define NAME_MAX_LEN 128

int pvm_config_init(struct pvm_config *cfg, const struct pvm_config_key *keys, size_t nkeys)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->keys = keys;
	cfg->nkeys = nkeys;
	cfg->values = calloc(nkeys ? nkeys : 1, sizeof(*cfg->values));
	cfg->source = calloc(nkeys ? nkeys : 1, sizeof(*cfg->source));
	if (!cfg->values || !cfg->source)
		goto fail;
	for (size_t i = 0; i < nkeys; i++) {
		if (!keys[i].def)
			continue;
		cfg->values[i] = strdup(keys[i].def);
		if (!cfg->values[i])
			goto fail;
	}
	return 0;
fail:
	pvm_config_free(cfg);
	return -ENOMEM;
}

void pvm_config_free(struct pvm_config *cfg)
{
	for (size_t i = 0; cfg->values && i < cfg->nkeys; i++)
		free(cfg->values[i]);
	for (size_t i = 0; i < cfg->nwarnings; i++)
		free(cfg->warnings[i]);
	free(cfg->values);
	free(cfg->source);
	free(cfg->warnings);
	memset(cfg, 0, sizeof(*cfg));
}

/* Canonical spelling shared by all layers: lower case, '-' and '_' alike. */
static void canon(char *out, size_t len, const char *in)
{
	size_t i = 0;

	for (; in[i] && i + 1 < len; i++) {
		char c = (char)tolower((unsigned char)in[i]);

		out[i] = (c == '-' || c == '.') ? '_' : c;
	}
	out[i] = '\0';
}

static ssize_t find_key(const struct pvm_config *cfg, const char *canon_name)
{
	char k[NAME_MAX_LEN];

	for (size_t i = 0; i < cfg->nkeys; i++) {
		canon(k, sizeof(k), cfg->keys[i].key);
		if (strcmp(k, canon_name) == 0)
			return (ssize_t)i;
	}
	return -1;
}

int pvm_config_set(struct pvm_config *cfg, const char *key, const char *value,
		   enum pvm_config_source source, struct pvm_err *err)
{
	char name[NAME_MAX_LEN];
	ssize_t i;
	char *copy;

	canon(name, sizeof(name), key);
	i = find_key(cfg, name);
	if (i < 0)
		return pvm_err_field(err, -ENOENT, key, "unknown configuration key %s", key);
	copy = strdup(value);
	if (!copy)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	free(cfg->values[i]);
	cfg->values[i] = copy;
	cfg->source[i] = source;
	return 0;
}

struct ini_ctx {
	struct pvm_config *cfg;
	struct pvm_err *err;
	const char *path;
	int line;
	bool failed;
};

static int config_ini_entry(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *ctx = user;
	char key[NAME_MAX_LEN];
	struct pvm_err local;

	if (ctx->failed)
		return 0;
	snprintf(key, sizeof(key), "%s%s%s", section, *section ? "." : "", name);
	if (pvm_config_set(ctx->cfg, key, value, PVM_CONFIG_FILE, &local) < 0) {
		ctx->failed = true;
		pvm_err_field(ctx->err, local.code, key, "%s: %s", ctx->path, local.msg);
		return 0;
	}
	return 1;
}

int pvm_config_load_file(struct pvm_config *cfg, const char *path, struct pvm_err *err)
{
	struct ini_ctx ctx = {.cfg = cfg, .err = err, .path = path};
	int line;

	line = ini_parse(path, config_ini_entry, &ctx);
	if (line == -1)
		return pvm_err_set(err, -errno ? -errno : -ENOENT, "%s: cannot open: %s", path,
				   strerror(errno ? errno : ENOENT));
	if (line == -2)
		return pvm_err_set(err, -ENOMEM, "%s: out of memory", path);
	if (ctx.failed)
		return pvm_err_prefix(err, "line %d", line);
	if (line > 0)
		return pvm_err_set(err, -EINVAL, "%s: line %d: syntax error", path, line);
	return 0;
}

static int add_warning(struct pvm_config *cfg, const char *fmt, const char *name)
{
	char **w = realloc(cfg->warnings, (cfg->nwarnings + 1) * sizeof(*w));
	char *msg;

	if (!w)
		return -ENOMEM;
	cfg->warnings = w;
	if (asprintf(&msg, fmt, name) < 0)
		return -ENOMEM;
	cfg->warnings[cfg->nwarnings++] = msg;
	return 0;
}

int pvm_config_load_env(struct pvm_config *cfg, char *const *envp, struct pvm_err *err)
{
	for (; envp && *envp; envp++) {
		const char *e = *envp;
		const char *eq = strchr(e, '=');
		char name[NAME_MAX_LEN];
		size_t n;
		int ret;

		if (strncmp(e, "PVM_", 4) != 0 || !eq)
			continue;
		n = (size_t)(eq - (e + 4));
		if (n == 0 || n >= sizeof(name))
			continue;
		memcpy(name, e + 4, n);
		name[n] = '\0';
		canon(name, sizeof(name), name);
		ret = find_key(cfg, name) < 0
			  ? add_warning(cfg, "unknown environment variable PVM_%s", name)
			  : pvm_config_set(cfg, name, eq + 1, PVM_CONFIG_ENV, err);
		if (ret < 0)
			return ret == -ENOMEM ? pvm_err_set(err, ret, "out of memory") : ret;
	}
	return 0;
}

int pvm_config_load_args(struct pvm_config *cfg, int argc, char **argv, int *nrest,
			 struct pvm_err *err)
{
	int rest = 0;
	int i;

	for (i = 0; i < argc; i++) {
		char name[NAME_MAX_LEN];
		const char *arg = argv[i];
		const char *eq, *value;
		ssize_t k;
		size_t n;
		int ret;

		if (strcmp(arg, "--") == 0) {
			for (i++; i < argc; i++)
				argv[rest++] = argv[i];
			break;
		}
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			argv[rest++] = argv[i];
			continue;
		}
		eq = strchr(arg + 2, '=');
		n = eq ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
		if (n >= sizeof(name))
			return pvm_err_field(err, -EINVAL, arg, "unknown flag %s", arg);
		memcpy(name, arg + 2, n);
		name[n] = '\0';
		canon(name, sizeof(name), name);
		k = find_key(cfg, name);
		if (k < 0)
			return pvm_err_field(err, -EINVAL, arg, "unknown flag --%.*s", (int)n,
					     arg + 2);
		if (eq) {
			value = eq + 1;
		} else if (cfg->keys[k].is_flag) {
			value = "true";
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			return pvm_err_field(err, -EINVAL, arg, "flag --%s needs a value", arg + 2);
		}
		ret = pvm_config_set(cfg, cfg->keys[k].key, value, PVM_CONFIG_FLAG, err);
		if (ret < 0)
			return ret;
	}
	if (nrest)
		*nrest = rest;
	return 0;
}

const char *pvm_config_get(const struct pvm_config *cfg, const char *key)
{
	char name[NAME_MAX_LEN];
	ssize_t i;

	canon(name, sizeof(name), key);
	i = find_key(cfg, name);
	return i < 0 ? NULL : cfg->values[i];
}

enum pvm_config_source pvm_config_source_of(const struct pvm_config *cfg, const char *key)
{
	char name[NAME_MAX_LEN];
	ssize_t i;

	canon(name, sizeof(name), key);
	i = find_key(cfg, name);
	return i < 0 ? PVM_CONFIG_DEFAULT : cfg->source[i];
}

int pvm_config_get_int(const struct pvm_config *cfg, const char *key, int64_t min, int64_t max,
		       int64_t *out, struct pvm_err *err)
{
	const char *v = pvm_config_get(cfg, key);
	int ret;

	if (!v)
		return -ENOENT;
	ret = pvm_parse_int(v, min, max, out);
	if (ret < 0)
		return pvm_err_field(err, ret, key, "%s: \"%s\" is not an integer in [%lld, %lld]",
				     key, v, (long long)min, (long long)max);
	return 0;
}

int pvm_config_get_bool(const struct pvm_config *cfg, const char *key, bool *out,
			struct pvm_err *err)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	const char *v = pvm_config_get(cfg, key);

	if (!v)
		return -ENOENT;
	for (size_t i = 0; i < PVM_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return pvm_err_field(err, -EINVAL, key, "%s: \"%s\" is not a boolean", key, v);
}

void pvm_config_usage(const struct pvm_config *cfg, FILE *fp)
{
	for (size_t i = 0; i < cfg->nkeys; i++) {
		const struct pvm_config_key *k = &cfg->keys[i];
		char flag[NAME_MAX_LEN];

		canon(flag, sizeof(flag), k->key);
		for (char *p = flag; *p; p++)
			if (*p == '_' || *p == '.')
				*p = '-';
		fprintf(fp, "  --%-24s %s", flag, k->help ? k->help : "");
		if (k->def)
			fprintf(fp, " (default: %s)", k->def);
		fputc('\n', fp);
	}
}
