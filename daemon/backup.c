/* SPDX-License-Identifier: MIT */
/*
 * pvmd backup --to FILE: an online copy of the controller's store, taken
 * while pvmd (or several) keep serving it. pvmd restore --from FILE: that
 * copy put in place as the store, which must not be in use; a store already
 * there is replaced only with --force. Both find the store as the
 * controller does (--store, else --state-dir/pvm.db, from flags, PVM_*
 * or the INI file --config names).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/role.h"
#include "store/store.h"

/* Exit codes: 0 done, 1 the store or the file refused, 2 bad usage. */
enum { DONE = 0, FAILED = 1, USAGE = 2 };

static const struct pvm_config_key backup_keys[] = {
    {"to", NULL, "backup: the file to write (must not exist)", false},
};

static const struct pvm_config_key restore_keys[] = {
    {"from", NULL, "restore: the backup file to put in place", false},
    {"force", "false", "restore: replace the store that is there", true},
};

/* The file a subcommand needs, or a usage error. */
static const char *file_arg(const struct pvm_config *cfg, const char *key, const char *cmd)
{
	const char *v = pvm_config_get(cfg, key);

	if (!v || !*v)
		fprintf(stderr, "pvmd %s: --%s FILE is required\n", cmd, key);
	return v && *v ? v : NULL;
}

static int backup_run(const struct pvm_config *cfg)
{
	/* An existing store only: a typo must not back up a new empty one. */
	struct store_options so = {.pool_size = 1, .no_create = true};
	const char *to = file_arg(cfg, "to", "backup"), *location;
	struct pvm_err err = {0};
	struct store *st = NULL;
	char path[4096];
	int ret;

	if (!to)
		return USAGE;
	location = pvmd_store_location(cfg, path, sizeof(path));
	ret = store_open(location, &so, &st, &err);
	if (ret == 0)
		ret = store_backup(st, to, &err);
	store_close(st);
	if (ret < 0) {
		fprintf(stderr, "pvmd backup: %s\n", err.msg);
		return FAILED;
	}
	printf("backup of %s written to %s\n", location, to);
	return DONE;
}

static int restore_run(const struct pvm_config *cfg)
{
	const char *from = file_arg(cfg, "from", "restore"), *location;
	struct pvm_err err = {0};
	bool force = false;
	char path[4096];
	int ret;

	if (!from)
		return USAGE;
	if (pvm_config_get_bool(cfg, "force", &force, &err) < 0) {
		fprintf(stderr, "pvmd restore: %s\n", err.msg);
		return USAGE;
	}
	location = pvmd_store_location(cfg, path, sizeof(path));
	/* Into a fresh state directory too, made as the controller makes it. */
	if (location == path && mkdir(pvm_config_get(cfg, "state_dir"), 0700) < 0 &&
	    errno != EEXIST) {
		fprintf(stderr, "pvmd restore: state directory %s: %s\n",
			pvm_config_get(cfg, "state_dir"), strerror(errno));
		return FAILED;
	}
	ret = store_restore(from, location, force, &err);
	if (ret < 0) {
		fprintf(stderr, "pvmd restore: %s%s\n", err.msg,
			ret == -EEXIST ? ": stop the pvmd serving it; --force replaces it" : "");
		return FAILED;
	}
	printf("%s restored into %s\n", from, location);
	return DONE;
}

const struct pvmd_command pvmd_cmd_backup = {
    .name = "backup",
    .usage = "--to FILE [--store LOCATION | --state-dir DIR] [--config FILE]",
    .keys = backup_keys,
    .nkeys = PVM_ARRAY_SIZE(backup_keys),
    .run = backup_run,
};

const struct pvmd_command pvmd_cmd_restore = {
    .name = "restore",
    .usage = "--from FILE [--force] [--store LOCATION | --state-dir DIR] [--config FILE]",
    .keys = restore_keys,
    .nkeys = PVM_ARRAY_SIZE(restore_keys),
    .run = restore_run,
};
