/* SPDX-License-Identifier: MIT */
/* Agent relays for libvirt guests (lv_relay.h). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/common.h"
#include "daemon/lv_relay.h"
#include "daemon/vmm.h"

#define POLL_MS	     50
#define RECONNECT_NS (100 * 1000000ull) /* the socket is not there yet, or pvm-agent reopens */

struct lv_relay {
	struct lv_relay *next;
	char id[64];
	char sock[PATH_MAX + 16];
	pthread_t thread;
	atomic_bool stop;
	/* The session of the current connection; replaced (under lock) when
	 * the connection is made again, so a reader never sees a freed one. */
	pthread_mutex_t lock;
	struct agent_host *h;
};

struct lv_relays {
	pthread_mutex_t lock;
	struct lv_relay *list;
};

/* One connection, until it closes or the relay stops. Bytes for the agent
 * wait in out[] while the socket is full, so no frame is cut. */
static void relay_connection(struct lv_relay *r, int fd)
{
	struct agent_host *h = agent_host_new(NULL, pvm_now_ns()), *old;
	uint8_t in[4096], out[4096];
	size_t off = 0, len = 0;

	if (!h)
		return;
	pthread_mutex_lock(&r->lock);
	old = r->h;
	r->h = h;
	pthread_mutex_unlock(&r->lock);
	agent_host_free(old);
	while (!atomic_load(&r->stop)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t got;

		if (off == len) {
			off = 0;
			len = agent_host_output(h, out, sizeof(out), pvm_now_ns());
		}
		if (off < len) {
			/* No SIGPIPE when the guest is gone: pvmd's callers may not ignore it. */
			got = send(fd, out + off, len - off, MSG_NOSIGNAL);
			if (got < 0 && errno != EAGAIN && errno != EINTR)
				break;
			if (got > 0)
				off += (size_t)got;
			if (off < len)
				p.events |= POLLOUT;
		}
		if (poll(&p, 1, POLL_MS) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = read(fd, in, sizeof(in));
		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (got > 0)
			agent_host_feed(h, in, (size_t)got, pvm_now_ns());
	}
}

static void *relay_main(void *arg)
{
	struct lv_relay *r = arg;

	while (!atomic_load(&r->stop)) {
		int fd = pvmd_unix_connect(r->sock);

		if (fd >= 0) {
			relay_connection(r, fd);
			close(fd);
		}
		/* Also after a connection closed: one that a peer closes at once
		 * must not spin this thread. */
		pvm_sleep_ns(RECONNECT_NS);
	}
	return NULL;
}

static void relay_free(struct lv_relay *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	agent_host_free(r->h);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int lv_relays_new(struct lv_relays **out)
{
	struct lv_relays *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return -ENOMEM;
	pthread_mutex_init(&rs->lock, NULL);
	*out = rs;
	return 0;
}

void lv_relays_free(struct lv_relays *rs)
{
	if (!rs)
		return;
	while (rs->list) {
		struct lv_relay *r = rs->list;

		rs->list = r->next;
		relay_free(r);
	}
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

static struct lv_relay *find(struct lv_relays *rs, const char *id)
{
	struct lv_relay *r = rs->list;

	while (r && strcmp(r->id, id) != 0)
		r = r->next;
	return r;
}

int lv_relay_ensure(struct lv_relays *rs, const char *id, const char *sock)
{
	struct lv_relay *r;
	int ret = 0;

	pthread_mutex_lock(&rs->lock);
	if (find(rs, id))
		goto out;
	r = calloc(1, sizeof(*r));
	if (!r) {
		ret = -ENOMEM;
		goto out;
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->sock, sizeof(r->sock), "%s", sock);
	pthread_mutex_init(&r->lock, NULL);
	if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
		pthread_mutex_destroy(&r->lock);
		free(r);
		ret = -EAGAIN;
		goto out;
	}
	r->next = rs->list;
	rs->list = r;
out:
	pthread_mutex_unlock(&rs->lock);
	return ret;
}

void lv_relay_drop(struct lv_relays *rs, const char *id)
{
	struct lv_relay **pp, *r = NULL;

	pthread_mutex_lock(&rs->lock);
	for (pp = &rs->list; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			r = *pp;
			*pp = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&rs->lock);
	if (r)
		relay_free(r);
}

/* Runs fn on the guest's current session under its lock; -ENOENT without. */
static int with_session(struct lv_relays *rs, const char *id,
			int (*fn)(struct agent_host *h, void *arg), void *arg)
{
	struct lv_relay *r;
	int ret = -ENOENT;

	pthread_mutex_lock(&rs->lock);
	r = find(rs, id);
	if (r) {
		pthread_mutex_lock(&r->lock);
		if (r->h)
			ret = fn(r->h, arg);
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_unlock(&rs->lock);
	return ret;
}

static bool spoke(struct agent_host *h)
{
	struct agent_negotiation neg;
	struct agent_hello hello;

	return agent_host_hello(h, &hello) == 0 && agent_host_negotiation(h, &neg) == 0;
}

static int to_json(struct agent_host *h, void *arg)
{
	json_object **out = arg;

	if (!spoke(h))
		return -ENOENT;
	*out = agent_host_to_json(h, pvm_now_ns());
	return *out ? 0 : -ENOMEM;
}

int lv_relay_json(struct lv_relays *rs, const char *id, json_object **out)
{
	*out = NULL;
	return with_session(rs, id, to_json, out);
}

/* 1 once the agent said BYE; asks for the shutdown once it spoke. */
static int shutdown_step(struct agent_host *h, void *arg)
{
	bool *asked = arg;

	if (agent_host_gone(h))
		return 1;
	if (!*asked && spoke(h))
		*asked = agent_host_shutdown(h, 0, pvm_now_ns()) == 0;
	return 0;
}

bool lv_relay_shutdown(struct lv_relays *rs, const char *id, uint64_t wait_ns)
{
	uint64_t deadline = pvm_now_ns() + wait_ns;
	bool asked = false;

	do {
		if (with_session(rs, id, shutdown_step, &asked) == 1)
			return true;
		pvm_sleep_ns(POLL_MS * 1000000ull);
	} while (pvm_now_ns() < deadline);
	return false;
}
