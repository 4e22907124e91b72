/* SPDX-License-Identifier: MIT */
/*
 * Endpoint, token and CA: flags > PVM_ADDR/PVM_TOKEN/PVM_CACERT > the INI
 * file ~/.config/pvm/config, layered by common/'s pvm_config.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/internal.h"

static const struct pvm_config_key keys[] = {
    {"addr", CLI_DEFAULT_ADDR, "controller URL", false},
    {"token", NULL, "bearer token", false},
    {"cacert", NULL, "CA bundle (PEM) to verify the controller", false},
};

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

char *cli_config_path(char *const *envp)
{
	const char *xdg = env_get(envp, "XDG_CONFIG_HOME");
	const char *home = env_get(envp, "HOME");
	char *path = NULL;

	/* The XDG spec says a relative XDG_CONFIG_HOME is invalid: ignore it. */
	if (xdg && xdg[0] == '/') {
		if (asprintf(&path, "%s/pvm/config", xdg) < 0)
			return NULL;
	} else if (home && home[0]) {
		if (asprintf(&path, "%s/.config/pvm/config", home) < 0)
			return NULL;
	}
	return path;
}

/* "host:port" means http://host:port; a trailing slash is dropped. */
static int normalise_addr(const char *in, char **out, struct pvm_err *err)
{
	size_t n;
	char *s;

	if (!in[0])
		return pvm_err_field(err, -EINVAL, "addr", "the controller address is empty");
	if (strstr(in, "://")) {
		if (strncmp(in, "http://", 7) != 0 && strncmp(in, "https://", 8) != 0)
			return pvm_err_field(err, -EINVAL, "addr",
					     "%s: only http:// and https:// are supported", in);
		s = strdup(in);
	} else if (asprintf(&s, "http://%s", in) < 0) {
		s = NULL;
	}
	if (!s)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	*out = s;
	return 0;
}

static int dup_opt(const struct pvm_config *cfg, const char *key, char **out)
{
	const char *v = pvm_config_get(cfg, key);

	*out = NULL;
	if (!v || !v[0])
		return 0;
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

/* A token is a password: like ssh, say so when others may read it. */
static void check_private(const char *path, struct cli_settings *s)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & 077))
		snprintf(s->warning, sizeof(s->warning),
			 "%s holds a token and others may read it (chmod 600 %s)", path, path);
}

int cli_settings_resolve(struct cli_settings *s, const struct cli_flags *flags, char *const *envp,
			 struct pvm_err *err)
{
	struct pvm_config cfg;
	char *path = NULL;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = pvm_config_init(&cfg, keys, PVM_ARRAY_SIZE(keys));
	if (ret < 0)
		return pvm_err_set(err, ret, "out of memory");
	if (flags->config) {
		ret = pvm_config_load_file(&cfg, flags->config, err);
		if (ret < 0)
			goto out;
	} else {
		path = cli_config_path(envp);
		/* The default file is optional; a broken one is still an error. */
		if (path && access(path, F_OK) == 0) {
			ret = pvm_config_load_file(&cfg, path, err);
			if (ret < 0)
				goto out;
		}
	}
	/* Unknown PVM_* variables belong to other tools: not our business. */
	ret = pvm_config_load_env(&cfg, envp, err);
	if (ret < 0)
		goto out;
	if (flags->addr)
		ret = pvm_config_set(&cfg, "addr", flags->addr, PVM_CONFIG_FLAG, err);
	if (ret == 0 && flags->token)
		ret = pvm_config_set(&cfg, "token", flags->token, PVM_CONFIG_FLAG, err);
	if (ret == 0 && flags->cacert)
		ret = pvm_config_set(&cfg, "cacert", flags->cacert, PVM_CONFIG_FLAG, err);
	if (ret < 0)
		goto out;
	ret = normalise_addr(pvm_config_get(&cfg, "addr"), &s->addr, err);
	if (ret < 0)
		goto out;
	if (dup_opt(&cfg, "token", &s->token) < 0 || dup_opt(&cfg, "cacert", &s->cacert) < 0) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	s->addr_src = pvm_config_source_of(&cfg, "addr");
	s->token_src = pvm_config_source_of(&cfg, "token");
	s->cacert_src = pvm_config_source_of(&cfg, "cacert");
	if (s->token_src == PVM_CONFIG_FILE)
		check_private(flags->config ? flags->config : path, s);
out:
	if (ret < 0)
		cli_settings_free(s);
	pvm_config_free(&cfg);
	free(path);
	return ret;
}

void cli_settings_free(struct cli_settings *s)
{
	free(s->addr);
	free(s->token);
	free(s->cacert);
	memset(s, 0, sizeof(*s));
}
