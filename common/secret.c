/* SPDX-License-Identifier: MIT */
/*
 * Files that hold a bearer token: readable by their owner only, never reached
 * through a symbolic link, on disk before the caller goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

int pvm_secret_file_open(const char *path, struct pvm_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return pvm_err_set(err, -errno, "open %s: %s", path, strerror(errno));
	/* O_CREAT's mode does not apply to a file that was already there. */
	if (fchmod(fd, 0600) < 0) {
		int ret = pvm_err_set(err, -errno, "chmod %s: %s", path, strerror(errno));

		close(fd);
		return ret;
	}
	return fd;
}

int pvm_secret_file_write(int fd, const char *path, const char *secret, struct pvm_err *err)
{
	size_t len = strlen(secret);

	if (write(fd, secret, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0)
		return pvm_err_set(err, errno ? -errno : -EIO, "write %s: %s", path,
				   strerror(errno ? errno : EIO));
	return 0;
}
