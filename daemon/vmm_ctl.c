/* SPDX-License-Identifier: MIT */
/* The client side of pvm-vmm's control socket: one request line, one answer line. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/vmm.h"

#define ANSWER_MAX (1024 * 1024)

static const struct pvm_json_limits answer_limits = {.max_bytes = ANSWER_MAX, .max_depth = 16};

static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = pvm_now_ns();
		struct pollfd p = {.fd = fd, .events = events};
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int pvmd_unix_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A unix connect completes or fails at once (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

int pvmd_vmm_call(const char *sock, const char *request, unsigned timeout_ms, json_object **ans,
		  struct pvm_err *err)
{
	uint64_t deadline = pvm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct pvm_buf in;
	size_t off = 0, len = strlen(request);
	json_object *o = NULL, *ok = NULL;
	char *nl = NULL;
	int fd, ret;

	*ans = NULL;
	fd = pvmd_unix_connect(sock);
	if (fd < 0)
		return pvm_err_set(err, fd, "control socket %s: %s", sock, strerror(-fd));
	pvm_buf_init(&in);
	while (off <= len) {
		const char *p = off < len ? request + off : "\n";
		size_t n = off < len ? len - off : 1;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			ret = wait_fd(fd, POLLOUT, deadline);
			if (ret < 0)
				goto timeout;
			continue;
		}
		if (w < 0) {
			ret = pvm_err_set(err, -errno, "control socket %s: send: %s", sock,
					  strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	while (!nl) {
		char buf[4096];
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			ret = wait_fd(fd, POLLIN, deadline);
			if (ret < 0)
				goto timeout;
			continue;
		}
		if (r <= 0) {
			ret = pvm_err_set(err, r < 0 ? -errno : -ECONNRESET,
					  "control socket %s: closed before answering", sock);
			goto out;
		}
		pvm_buf_append(&in, buf, (size_t)r);
		if (in.failed || in.len > ANSWER_MAX) {
			ret = pvm_err_set(err, -E2BIG, "control socket %s: answer too long", sock);
			goto out;
		}
		nl = memchr(in.data, '\n', in.len);
	}
	ret = pvm_json_parse(in.data, (size_t)(nl - in.data), &answer_limits, &o, err);
	if (ret < 0) {
		pvm_err_prefix(err, "control socket %s: bad answer", sock);
		goto out;
	}
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		ret = pvm_err_set(err, -EPROTO, "control socket %s: answer without \"ok\"", sock);
		goto out;
	}
	if (!json_object_get_boolean(ok)) {
		const char *msg = "unknown error";

		pvm_json_get_str(o, "error", &msg);
		ret = pvm_err_set(err, -EPROTO, "vmm: %s", msg);
		goto out;
	}
	*ans = o;
	o = NULL;
	ret = 0;
	goto out;
timeout:
	ret = pvm_err_set(err, ret, "control socket %s: no answer in %u ms", sock, timeout_ms);
out:
	json_object_put(o);
	pvm_buf_free(&in);
	close(fd);
	return ret;
}

pid_t pvmd_vmm_peer_pid(const char *sock)
{
	struct ucred cred = {0};
	socklen_t len = sizeof(cred);
	pid_t pid = 0;
	int fd = pvmd_unix_connect(sock);

	if (fd < 0)
		return 0;
	/* The credentials are the listener's, taken when it called listen(). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(fd);
	return pid;
}
