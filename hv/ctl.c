// SPDX-License-Identifier: MIT
/*
 * The control socket: one JSON object per line each way (protocol in hv.h).
 * Requests are parsed strictly (pvm_json_parse + pvm_json_check); a bad line
 * gets an error answer and the connection stays open.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "hv/vm.h"

#define CTL_MAX_CLIENTS	    8
#define CTL_LINE_MAX	    65536
#define CTL_DEFAULT_STOP_MS 5000
/* how long one answer may wait for a client that does not read */
#define CTL_SEND_TIMEOUT_MS 2000

struct ctl_client {
	int fd;
	char *buf;
	size_t len;
	uint64_t active_ns; /* connected or last sent bytes */
};

struct hv_ctl {
	struct hv_vm *vm;
	char *path;
	ino_t ino; /* the socket file we bound, so we only ever unlink our own */
	dev_t dev;
	int lfd;
	int pipe[2];
	pthread_t thread;
	struct ctl_client c[CTL_MAX_CLIENTS];
};

static const struct pvm_json_field req_fields[] = {
    {.name = "cmd", .type = PVM_JSON_STRING, .required = true, .min_len = 1, .max_len = 32},
    {.name = "timeout_ms", .type = PVM_JSON_INT, .min = 1, .max = 3600000},
    {.name = "force", .type = PVM_JSON_BOOL},
    {.name = "interval_ms",
     .type = PVM_JSON_INT,
     .min = AGENT_INTERVAL_MIN_MS,
     .max = AGENT_INTERVAL_MAX_MS},
};

static const struct pvm_json_limits ctl_limits = {.max_bytes = CTL_LINE_MAX, .max_depth = 4};

static json_object *answer_error(const char *msg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static json_object *answer_ok(struct hv_vm *vm)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(true));
	json_object_object_add(o, "state", json_object_new_string(hv_vm_state(vm)));
	return o;
}

static json_object *agent_state(struct hv_vm *vm)
{
	json_object *ans = answer_ok(vm), *j = hv_agent_json(vm);

	json_object_object_add(ans, "agent", j);
	return ans;
}

static json_object *agent_request(struct hv_vm *vm, enum hv_agent_req req, uint32_t arg)
{
	int ret = hv_agent_request(vm, req, arg);

	if (ret == -ENOTCONN)
		return answer_error("no agent: the guest's agent has not spoken");
	if (ret == -EAGAIN)
		return answer_error("agent queue full; try again");
	if (ret)
		return answer_error(strerror(-ret));
	return answer_ok(vm);
}

static json_object *agent_shutdown(struct hv_vm *vm, int64_t timeout)
{
	uint32_t t = timeout > AGENT_SHUTDOWN_MAX_MS ? AGENT_SHUTDOWN_MAX_MS : (uint32_t)timeout;
	json_object *ans = agent_request(vm, HV_AGENT_SHUTDOWN, t);

	/* the agent powers the guest off; force it if it does not in time */
	if (json_object_get_boolean(json_object_object_get(ans, "ok"))) {
		hv_vm_stop(vm, (uint64_t)timeout);
		json_object_put(ans);
		ans = answer_ok(vm);
	}
	return ans;
}

static json_object *handle(struct hv_ctl *ctl, const char *line, size_t len)
{
	struct hv_vm *vm = ctl->vm;
	struct pvm_err err = {0};
	json_object *req = NULL, *ans;
	const char *cmd = NULL;
	int64_t timeout = CTL_DEFAULT_STOP_MS, interval = -1;
	bool force = false;

	if (pvm_json_parse(line, len, &ctl_limits, &req, &err) ||
	    pvm_json_check(req, "", req_fields, PVM_ARRAY_SIZE(req_fields), &err)) {
		ans = answer_error(err.msg);
		goto out;
	}
	pvm_json_get_str(req, "cmd", &cmd);
	pvm_json_get_int(req, "timeout_ms", &timeout);
	pvm_json_get_bool(req, "force", &force);
	pvm_json_get_int(req, "interval_ms", &interval);
	if (!strcmp(cmd, "status")) {
		ans = answer_ok(vm);
		json_object_object_add(ans, "vcpus", json_object_new_uint64(vm->nvcpus));
		json_object_object_add(ans, "mem_mib", json_object_new_uint64(vm->cfg.mem_mib));
		json_object_object_add(
		    ans, "uptime_ms",
		    json_object_new_uint64((pvm_now_ns() - vm->stats.start_ns) / 1000000));
	} else if (!strcmp(cmd, "stats")) {
		ans = answer_ok(vm);
		json_object_object_add(ans, "stats", hv_stats_json(vm));
	} else if (!strcmp(cmd, "capabilities")) {
		ans = hv_caps_json(vm);
		json_object_object_add(ans, "ok", json_object_new_boolean(true));
	} else if (!strcmp(cmd, "pause")) {
		ans = hv_vm_pause(vm) ? answer_error("not running") : answer_ok(vm);
	} else if (!strcmp(cmd, "resume")) {
		ans = hv_vm_resume(vm) ? answer_error("not paused") : answer_ok(vm);
	} else if (!strcmp(cmd, "stop")) {
		hv_vm_stop(vm, force ? 0 : (uint64_t)timeout);
		ans = answer_ok(vm);
	} else if (!strcmp(cmd, "agent")) {
		ans = agent_state(vm);
	} else if (!strcmp(cmd, "agent_ping")) {
		ans = agent_request(vm, HV_AGENT_PING, 0);
	} else if (!strcmp(cmd, "agent_set_interval")) {
		ans = interval < 0 ? answer_error("agent_set_interval: 'interval_ms' is required")
				   : agent_request(vm, HV_AGENT_SET_INTERVAL, (uint32_t)interval);
	} else if (!strcmp(cmd, "agent_renegotiate")) {
		ans = agent_request(vm, HV_AGENT_RENEGOTIATE, 0);
	} else if (!strcmp(cmd, "agent_shutdown")) {
		ans = agent_shutdown(vm, timeout);
	} else {
		ans =
		    answer_error("unknown cmd (want status, stats, capabilities, pause, resume, "
				 "stop, agent, agent_ping, agent_set_interval, agent_renegotiate, "
				 "agent_shutdown)");
	}
out:
	json_object_put(req);
	return ans;
}

static int send_answer(int fd, json_object *ans)
{
	const char *s = json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s);
	char *line = malloc(len + 1);
	size_t off = 0;
	int ret = 0;

	if (!line)
		return -ENOMEM;
	memcpy(line, s, len);
	line[len++] = '\n';
	while (off < len) {
		ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = -EPIPE;
			break;
		}
		off += (size_t)w;
	}
	free(line);
	return ret;
}

static void drop(struct ctl_client *c)
{
	close(c->fd);
	free(c->buf);
	*c = (struct ctl_client){.fd = -1};
}

/* Reads what is there and answers every complete line; false to drop. */
static bool client_read(struct hv_ctl *ctl, struct ctl_client *c)
{
	ssize_t n;
	char *nl;

	if (!c->buf) {
		c->buf = malloc(CTL_LINE_MAX + 1);
		if (!c->buf)
			return false;
	}
	n = recv(c->fd, c->buf + c->len, CTL_LINE_MAX - c->len, 0);
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	c->len += (size_t)n;
	c->active_ns = pvm_now_ns();
	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t llen = (size_t)(nl - c->buf);
		json_object *ans = handle(ctl, c->buf, llen);
		int ret = send_answer(c->fd, ans);

		json_object_put(ans);
		memmove(c->buf, nl + 1, c->len - llen - 1);
		c->len -= llen + 1;
		if (ret)
			return false;
	}
	if (c->len == CTL_LINE_MAX) {
		json_object *ans = answer_error("request line too long");

		send_answer(c->fd, ans);
		json_object_put(ans);
		return false;
	}
	return true;
}

/* A slot for a new client. When all are taken the client quiet the longest
 * makes room, so clients that connect and go silent cannot lock out pvmd
 * (which connects for each request). */
static int take_slot(struct hv_ctl *ctl)
{
	int victim = 0;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (ctl->c[i].fd < 0)
			return i;
		if (ctl->c[i].active_ns < ctl->c[victim].active_ns)
			victim = i;
	}
	drop(&ctl->c[victim]);
	return victim;
}

static void *ctl_thread(void *arg)
{
	struct hv_ctl *ctl = arg;
	struct pollfd pfd[CTL_MAX_CLIENTS + 2];
	int ret = ctl->vm->cfg.confine ? hv_confine_thread(HV_THREAD_CTL) : 0;

	if (ret) {
		hv_vm_end(ctl->vm, HV_EXIT_INTERNAL, "control thread: seccomp: %s", strerror(-ret));
		return NULL;
	}
	for (;;) {
		int n = 0, fresh = -1;

		pfd[n++] = (struct pollfd){.fd = ctl->pipe[0], .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = ctl->lfd, .events = POLLIN};
		for (int i = 0; i < CTL_MAX_CLIENTS; i++)
			pfd[n++] = (struct pollfd){.fd = ctl->c[i].fd, .events = POLLIN};
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC);
			struct timeval tv = {.tv_sec = CTL_SEND_TIMEOUT_MS / 1000,
					     .tv_usec = CTL_SEND_TIMEOUT_MS % 1000 * 1000};

			/* the thread serves every client: one that never reads its
			 * answers is dropped, not waited for */
			if (fd >= 0 &&
			    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
				close(fd);
				fd = -1;
			}
			if (fd >= 0) {
				fresh = take_slot(ctl);
				ctl->c[fresh].fd = fd;
				ctl->c[fresh].active_ns = pvm_now_ns();
			}
		}
		/* a reused slot's poll result was its old client's */
		for (int i = 0; i < CTL_MAX_CLIENTS; i++)
			if (i != fresh && ctl->c[i].fd >= 0 && pfd[i + 2].revents &&
			    !client_read(ctl, &ctl->c[i]))
				drop(&ctl->c[i]);
	}
	return NULL;
}

/* Whether something accepts connections on the socket at sa (a live VMM). */
static bool socket_answers(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool live;

	if (fd < 0)
		return false;
	/* a listener with a full backlog still exists: EAGAIN counts as live */
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
	close(fd);
	return live;
}

/* Unlinks path only while it is still the socket we bound. */
static void unlink_own(const struct hv_ctl *ctl)
{
	struct stat st;

	if (lstat(ctl->path, &st) == 0 && st.st_ino == ctl->ino && st.st_dev == ctl->dev)
		unlink(ctl->path);
}

int hv_ctl_open(struct hv_vm *vm, const char *path, struct hv_ctl **out, struct pvm_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct hv_ctl *ctl;
	struct stat st;
	int ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return pvm_err_set(err, -ENAMETOOLONG, "--api-sock %s: path too long", path);
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	ctl->vm = vm;
	ctl->lfd = ctl->pipe[0] = ctl->pipe[1] = -1;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		ctl->c[i].fd = -1;
	ctl->path = strdup(path);
	if (!ctl->path) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	strcpy(sa.sun_path, path);
	/* a stale socket from a dead VMM is replaced; a live VMM's, or anything
	 * else, is not ours */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			ret = pvm_err_set(err, -EEXIST, "--api-sock %s: exists and is not a socket",
					  path);
			goto fail;
		}
		if (socket_answers(&sa)) {
			ret = pvm_err_set(err, -EEXIST,
					  "--api-sock %s: a running VMM answers there", path);
			goto fail;
		}
		unlink(path);
	}
	ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ctl->lfd < 0 || bind(ctl->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ctl->lfd, 8) < 0 || lstat(path, &st) < 0) {
		ret = pvm_err_set(err, -errno, "--api-sock %s: %s", path, strerror(errno));
		goto fail;
	}
	ctl->ino = st.st_ino;
	ctl->dev = st.st_dev;
	if (pipe2(ctl->pipe, O_CLOEXEC) < 0) {
		ret = pvm_err_set(err, -errno, "pipe: %s", strerror(errno));
		goto fail;
	}
	ret = pthread_create(&ctl->thread, NULL, ctl_thread, ctl);
	if (ret) {
		ret = pvm_err_set(err, -ret, "control thread: %s", strerror(ret));
		goto fail;
	}
	*out = ctl;
	return 0;
fail:
	if (ctl->lfd >= 0) {
		close(ctl->lfd);
		if (ctl->ino)
			unlink_own(ctl);
	}
	if (ctl->pipe[0] >= 0) {
		close(ctl->pipe[0]);
		close(ctl->pipe[1]);
	}
	free(ctl->path);
	free(ctl);
	return ret;
}

void hv_ctl_close(struct hv_ctl *ctl)
{
	if (!ctl)
		return;
	if (write(ctl->pipe[1], "x", 1) < 0)
		pvm_log_warn("ctl: stopping the control thread: %s", strerror(errno));
	pthread_join(ctl->thread, NULL);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (ctl->c[i].fd >= 0)
			drop(&ctl->c[i]);
	close(ctl->lfd);
	close(ctl->pipe[0]);
	close(ctl->pipe[1]);
	unlink_own(ctl);
	free(ctl->path);
	free(ctl);
}
