/* SPDX-License-Identifier: MIT */
/*
 * pvmd's configuration: INI file (--config or PVM_CONFIG) < PVM_* environment
 * < flags, read at start-up and again on SIGHUP.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/role.h"

extern char **environ;

/* --config must be known before the file it names is read. */
static const char *find_config(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], "--config=", 9) == 0)
			return argv[i] + 9;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			return argv[i + 1];
	}
	return getenv("PVM_CONFIG");
}

/* The command line, kept for SIGHUP: a reload layers file, environment and
 * flags again exactly as at start-up. */
static int saved_argc;
static char **saved_argv;

int pvmd_config_load(struct pvm_config *cfg, int argc, char **argv, enum pvm_log_level *level,
		     enum pvm_log_format *format, struct pvm_err *err)
{
	const char *file = find_config(argc, argv);
	char **args;
	int nrest = 0, ret;

	if (file) {
		ret = pvm_config_load_file(cfg, file, err);
		if (ret < 0)
			return ret;
	}
	ret = pvm_config_load_env(cfg, environ, err);
	if (ret < 0)
		return ret;
	if (argc > 1) {
		/* pvm_config_load_args reorders its array: give it a copy. */
		args = malloc((size_t)argc * sizeof(*args));
		if (!args)
			return pvm_err_set(err, -ENOMEM, "out of memory");
		memcpy(args, argv, (size_t)argc * sizeof(*args));
		ret = pvm_config_load_args(cfg, argc - 1, args + 1, &nrest, err);
		if (ret == 0 && nrest > 0)
			ret = pvm_err_set(err, -EINVAL, "unexpected argument %s", args[1]);
		free(args);
		if (ret < 0)
			return ret;
	}
	if (pvm_log_parse_level(pvm_config_get(cfg, "log.level"), level) < 0)
		return pvm_err_field(err, -EINVAL, "log.level", "bad log level %s",
				     pvm_config_get(cfg, "log.level"));
	if (pvm_log_parse_format(pvm_config_get(cfg, "log.format"), format) < 0)
		return pvm_err_field(err, -EINVAL, "log.format", "bad log format %s",
				     pvm_config_get(cfg, "log.format"));
	return 0;
}

void pvmd_config_remember(int argc, char **argv)
{
	saved_argc = argc;
	saved_argv = argv;
}

void pvmd_reload(const struct pvm_config *running)
{
	struct pvm_config fresh;
	struct pvm_err err = {0};
	enum pvm_log_level level;
	enum pvm_log_format format;
	size_t changed = 0;

	if (!saved_argv) {
		/* a role embedded without pvmd's main (tests) has no layers to re-read */
		pvm_log_info("SIGHUP: no command line to read the configuration again from");
		return;
	}
	if (pvm_config_init(&fresh, running->keys, running->nkeys) < 0) {
		pvm_log_error("SIGHUP: out of memory; configuration unchanged");
		return;
	}
	if (pvmd_config_load(&fresh, saved_argc, saved_argv, &level, &format, &err) < 0) {
		pvm_log_error("SIGHUP: %s; configuration unchanged", err.msg);
		goto out;
	}
	for (size_t i = 0; i < running->nkeys; i++) {
		const char *was = running->values[i], *now = fresh.values[i];
		const char *key = running->keys[i].key;

		if ((!was && !now) || (was && now && strcmp(was, now) == 0))
			continue;
		changed++;
		if (strcmp(key, "log.level") == 0)
			pvm_log_set_level(level);
		else if (strcmp(key, "log.format") != 0)
			pvm_log_warn("SIGHUP: %s changed; it takes effect when pvmd restarts", key);
	}
	/* The format follows the level: both are the logger's, not a role's. */
	pvm_log_init("pvmd", level, format);
	pvm_log_info("SIGHUP: configuration read again, %zu setting(s) changed", changed);
out:
	pvm_config_free(&fresh);
}
