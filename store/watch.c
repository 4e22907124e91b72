/* SPDX-License-Identifier: MIT */
/*
 * Wake-ups from other processes' commits: one thread per store, started by
 * the first store_events_wait, blocks in the backend's watcher (LISTEN on
 * PostgreSQL, inotify on SQLite's files) and publishes the newest event
 * sequence number to this process's waiters. Commits of this process wake
 * its waiters directly (store.c), without this thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "store/store-int.h"

#define WATCH_RETRY_MS 1000

/* Sleeps up to ms; true when asked to stop. */
static bool stop_requested(struct store *s, int ms)
{
	struct pollfd p = {.fd = s->watch_stop[0], .events = POLLIN};

	return poll(&p, 1, ms) > 0;
}

/* For a watcher that cannot tell the number, and after a gap in watching. */
static void publish_last(struct store *s)
{
	int64_t seq = 0;

	if (store_events_last_seq(s, &seq, NULL) == 0)
		store_events_publish(s, seq);
}

static void *watch_main(void *arg)
{
	struct store *s = arg;
	void *w = NULL;

	for (;;) {
		int64_t seq = 0;
		int ret;

		if (!w) {
			if (s->ops->watch_open(s, &w, NULL) < 0) {
				w = NULL;
				if (stop_requested(s, WATCH_RETRY_MS))
					break;
				continue;
			}
			publish_last(s);
		}
		ret = s->ops->watch_wait(w, s->watch_stop[0], &seq);
		if (ret == 0)
			break;
		if (ret < 0) {
			s->ops->watch_close(w);
			w = NULL;
			if (stop_requested(s, WATCH_RETRY_MS))
				break;
			continue;
		}
		if (seq > 0)
			store_events_publish(s, seq);
		else
			publish_last(s);
	}
	if (w)
		s->ops->watch_close(w);
	return NULL;
}

int store_events_watch(struct store *s, struct pvm_err *err)
{
	int ret = 0;

	if (!s->ops->watch_open)
		return 0;
	pthread_mutex_lock(&s->ev_lock);
	if (s->watching)
		goto out;
	if (pipe2(s->watch_stop, O_CLOEXEC) < 0) {
		ret = -errno;
		pvm_err_set(err, ret, "store watcher: pipe: %s", strerror(-ret));
		goto out;
	}
	ret = -pthread_create(&s->watcher, NULL, watch_main, s);
	if (ret < 0) {
		close(s->watch_stop[0]);
		close(s->watch_stop[1]);
		s->watch_stop[0] = s->watch_stop[1] = -1;
		pvm_err_set(err, ret, "store watcher: cannot start a thread");
		goto out;
	}
	s->watching = true;
out:
	pthread_mutex_unlock(&s->ev_lock);
	return ret;
}

void store_events_unwatch(struct store *s)
{
	if (!s->watching)
		return;
	close(s->watch_stop[1]);
	pthread_join(s->watcher, NULL);
	close(s->watch_stop[0]);
	s->watch_stop[0] = s->watch_stop[1] = -1;
	s->watching = false;
}
