/* SPDX-License-Identifier: MIT */
/*
 * Endpoint, token and CA: flags > PVM_ADDR/PVM_TOKEN/PVM_CACERT > the INI
 * file ~/.config/pvm/config, layered by common/'s pvm_config. The endpoint
 * may list several controllers ("http://a:7070,http://b:7070"), tried in
 * order (http.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/internal.h"

static const struct pvm_config_key keys[] = {
    {"addr", CLI_DEFAULT_ADDR, "controller URL, or several comma-separated", false},
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

/*
 * One URL of the list, in[0..len): "host:port" means http://host:port; a
 * trailing slash is dropped. pos (from 1) names it in errors when the list
 * has several.
 */
static int normalise_addr(const char *in, size_t len, size_t pos, bool list, char **out,
			  struct pvm_err *err)
{
	const char *sep = memmem(in, len, "://", 3);
	char which[32] = "";
	size_t n, host;
	char *s;

	if (list)
		snprintf(which, sizeof(which), "URL %zu of the list: ", pos);
	if (!len && list)
		return pvm_err_field(err, -EINVAL, "addr",
				     "URL %zu of the list is empty (a comma too many?)", pos);
	if (!len)
		return pvm_err_field(err, -EINVAL, "addr", "the controller address is empty");
	if (memchr(in, ' ', len) || memchr(in, '\t', len))
		return pvm_err_field(err, -EINVAL, "addr",
				     "%s'%.*s' has a space; separate URLs with a comma alone",
				     which, (int)len, in);
	if (sep && !(sep - in == 4 && strncmp(in, "http", 4) == 0) &&
	    !(sep - in == 5 && strncmp(in, "https", 5) == 0))
		return pvm_err_field(err, -EINVAL, "addr",
				     "%s%.*s: only http:// and https:// are supported", which,
				     (int)len, in);
	if (asprintf(&s, "%s%.*s", sep ? "" : "http://", (int)len, in) < 0)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	host = (size_t)(strstr(s, "://") - s) + 3;
	n = strlen(s);
	while (n > host && s[n - 1] == '/')
		s[--n] = '\0';
	if (!s[host] || s[host] == '/') {
		free(s);
		return pvm_err_field(err, -EINVAL, "addr", "%s'%.*s' names no host", which,
				     (int)len, in);
	}
	*out = s;
	return 0;
}

/* "URL[,URL...]" into s->addrs, and s->addr the list they make again. */
static int parse_addrs(const char *in, struct cli_settings *s, struct pvm_err *err)
{
	bool list = strchr(in, ',') != NULL;
	const char *p = in;
	struct pvm_buf all;
	int ret;

	pvm_buf_init(&all);
	for (;;) {
		size_t len = strcspn(p, ",");
		char **url = &s->addrs[s->naddrs];

		if (s->naddrs == CLI_MAX_ADDRS) {
			ret = pvm_err_field(err, -EINVAL, "addr", "more than %d controller URLs",
					    CLI_MAX_ADDRS);
			goto out;
		}
		ret = normalise_addr(p, len, s->naddrs + 1, list, url, err);
		if (ret < 0)
			goto out;
		for (size_t i = 0; i < s->naddrs; i++)
			if (strcmp(s->addrs[i], *url) == 0)
				ret =
				    pvm_err_field(err, -EINVAL, "addr", "%s is listed twice", *url);
		pvm_buf_printf(&all, "%s%s", s->naddrs++ ? "," : "", *url);
		if (ret < 0 || !p[len])
			break;
		p += len + 1;
	}
	s->addr = ret < 0 ? NULL : pvm_buf_steal(&all);
	if (ret == 0 && !s->addr)
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
out:
	pvm_buf_free(&all);
	return ret;
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
	ret = parse_addrs(pvm_config_get(&cfg, "addr"), s, err);
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
	for (size_t i = 0; i < s->naddrs; i++)
		free(s->addrs[i]);
	free(s->token);
	free(s->cacert);
	memset(s, 0, sizeof(*s));
}
