// SPDX-License-Identifier: MIT
/*
 * The control socket: one JSON object per line each way (protocol in hv.h).
 * Requests are parsed strictly (pvm_json_parse + pvm_json_check); a bad line
 * gets an error answer and the connection stays open.
 *
 * One thread serves every client and never blocks on one: sockets are
 * non-blocking, answers wait in a per-client queue, a client whose queue is
 * full is not read from until it drains (so it cannot make the VMM buffer
 * without bound), and one that takes nothing for CTL_SEND_TIMEOUT_MS is
 * dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "hv/vm.h"

#define CTL_MAX_CLIENTS	    8
#define CTL_BACKLOG	    64
#define CTL_LINE_MAX	    65536
#define CTL_OUT_MAX	    (256 * 1024) /* queued answer bytes before reading stops */
#define CTL_DEFAULT_STOP_MS 5000
/* how long queued answers may wait for a client that does not read */
#define CTL_SEND_TIMEOUT_MS 2000

struct ctl_client {
	int fd;
	char *buf; /* request bytes, up to CTL_LINE_MAX */
	size_t len;
	struct pvm_buf out; /* answers not yet sent, from out_off */
	size_t out_off;
	uint64_t connected_ns;
	uint64_t active_ns; /* connected, last read or last sent bytes */
	uint64_t served;    /* requests answered */
	bool closing;	    /* read no more; drop once the queue is sent */
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

static size_t pending(const struct ctl_client *c)
{
	return c->out.len - c->out_off;
}

static void queue_answer(struct ctl_client *c, json_object *ans)
{
	const char *s = json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN);

	pvm_buf_append(&c->out, s, strlen(s));
	pvm_buf_append(&c->out, "\n", 1);
}

/* Sends what the socket takes now; false when the client is gone. */
static bool flush(struct ctl_client *c)
{
	while (pending(c)) {
		ssize_t w =
		    send(c->fd, c->out.data + c->out_off, pending(c), MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0)
			return false;
		c->out_off += (size_t)w;
		c->active_ns = pvm_now_ns();
	}
	if (!pending(c)) {
		pvm_buf_reset(&c->out);
		c->out_off = 0;
	}
	return !c->out.failed;
}

static void drop(struct ctl_client *c)
{
	close(c->fd);
	free(c->buf);
	pvm_buf_free(&c->out);
	*c = (struct ctl_client){.fd = -1};
}

/* Answers the complete lines buffered while the queue has room. */
static void serve_lines(struct hv_ctl *ctl, struct ctl_client *c)
{
	char *nl;

	if (!c->buf) /* nothing read yet */
		return;
	while (pending(c) < CTL_OUT_MAX && (nl = memchr(c->buf, '\n', c->len))) {
		size_t llen = (size_t)(nl - c->buf);
		json_object *ans = handle(ctl, c->buf, llen);

		queue_answer(c, ans);
		json_object_put(ans);
		c->served++;
		memmove(c->buf, nl + 1, c->len - llen - 1);
		c->len -= llen + 1;
	}
	if (c->len == CTL_LINE_MAX && !memchr(c->buf, '\n', c->len)) {
		json_object *ans = answer_error("request line too long");

		queue_answer(c, ans);
		json_object_put(ans);
		c->closing = true;
	}
}

static bool has_line(const struct ctl_client *c)
{
	return c->buf && memchr(c->buf, '\n', c->len);
}

/* Takes what the client sent; false when it is gone. A client that is done
 * sending (EOF) still gets the answers to the lines it sent, then goes. */
static bool client_read(struct ctl_client *c)
{
	ssize_t n;

	if (!c->buf) {
		c->buf = malloc(CTL_LINE_MAX + 1);
		if (!c->buf)
			return false;
	}
	if (c->len == CTL_LINE_MAX) /* full of lines waiting for queue room */
		return true;
	n = recv(c->fd, c->buf + c->len, CTL_LINE_MAX - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return true;
	if (n < 0)
		return false;
	if (n == 0) {
		c->closing = true;
		return true;
	}
	c->len += (size_t)n;
	c->active_ns = pvm_now_ns();
	return true;
}

/* One client's turn after poll; false to drop it. */
static bool client_turn(struct hv_ctl *ctl, struct ctl_client *c, short revents)
{
	if (revents & POLLIN && !c->closing && !client_read(c))
		return false;
	if (revents & (POLLERR | POLLNVAL))
		return false;
	/* a queue sent at once leaves no event to wait for: serve on while
	 * lines wait, or a client waiting for its answers would stall */
	do {
		serve_lines(ctl, c);
		if (!flush(c))
			return false;
	} while (!pending(c) && has_line(c));
	if (pending(c))
		return pvm_now_ns() - c->active_ns < CTL_SEND_TIMEOUT_MS * 1000000ull;
	/* hung up with nothing left to answer, or asked to go */
	return !c->closing && !(revents & POLLHUP && !(revents & POLLIN));
}

/* Whether a makes a better victim than b: a client that never completed a
 * request (stalled, dribbling, one endless line) before one that did, the
 * longest connected of those first, else the one quiet the longest. So a
 * client that reconnects in a loop evicts other idlers, not the client that
 * just connected to ask something. */
static bool better_victim(const struct ctl_client *a, const struct ctl_client *b)
{
	if (!a->served != !b->served)
		return !a->served;
	return a->served ? a->active_ns < b->active_ns : a->connected_ns < b->connected_ns;
}

/* A slot for a new client; when all are taken, better_victim makes room, so
 * that clients that connect and go silent cannot lock out pvmd (which
 * connects for each request). */
static int take_slot(struct hv_ctl *ctl)
{
	int victim = 0;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (ctl->c[i].fd < 0)
			return i;
		if (better_victim(&ctl->c[i], &ctl->c[victim]))
			victim = i;
	}
	drop(&ctl->c[victim]);
	return victim;
}

/* Until the oldest queued answer times out; -1 when none waits. */
static int poll_timeout_ms(const struct hv_ctl *ctl)
{
	uint64_t now = pvm_now_ns(), soonest = UINT64_MAX;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		const struct ctl_client *c = &ctl->c[i];
		uint64_t due = c->active_ns + CTL_SEND_TIMEOUT_MS * 1000000ull;

		if (c->fd >= 0 && pending(c) && due < soonest)
			soonest = due;
	}
	if (soonest == UINT64_MAX)
		return -1;
	return soonest <= now ? 0 : (int)((soonest - now) / 1000000 + 1);
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
		unsigned fresh = 0; /* slots given to new clients in this round */
		int n = 0;

		pfd[n++] = (struct pollfd){.fd = ctl->pipe[0], .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = ctl->lfd, .events = POLLIN};
		for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
			const struct ctl_client *c = &ctl->c[i];
			short ev = 0;

			/* a full queue stops reading: back-pressure, not memory */
			if (!c->closing && pending(c) < CTL_OUT_MAX)
				ev |= POLLIN;
			if (pending(c))
				ev |= POLLOUT;
			pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		if (poll(pfd, (nfds_t)n, poll_timeout_ms(ctl)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		/* Every waiting connection, so a client reconnecting in a loop
		 * cannot keep the backlog full for others. */
		for (int k = 0; pfd[1].revents & POLLIN && k < CTL_MAX_CLIENTS; k++) {
			int fd = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			int slot;

			if (fd < 0)
				break;
			slot = take_slot(ctl);
			ctl->c[slot].fd = fd;
			ctl->c[slot].connected_ns = pvm_now_ns();
			ctl->c[slot].active_ns = ctl->c[slot].connected_ns;
			fresh |= 1u << slot;
		}
		/* a new client's slot holds its predecessor's poll result; every
		 * other client gets a turn, so that timeouts are noticed */
		for (int i = 0; i < CTL_MAX_CLIENTS; i++)
			if (!(fresh & 1u << i) && ctl->c[i].fd >= 0 &&
			    !client_turn(ctl, &ctl->c[i], pfd[i + 2].revents))
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
	ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->lfd < 0 || bind(ctl->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ctl->lfd, CTL_BACKLOG) < 0 || lstat(path, &st) < 0) {
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
