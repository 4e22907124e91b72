/* SPDX-License-Identifier: MIT */
/*
 * /v1/events: the store's event log from a sequence number, as a long-poll
 * (JSON) or as Server-Sent Events when the client asks for text/event-stream.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "store/store.h"

/* Long polls wait in slices so a stopping server answers them promptly. */
#define WAIT_SLICE_MS 200

int api_events_wait(struct api_server *srv, int64_t since, uint64_t deadline_ns)
{
	for (;;) {
		uint64_t now = pvm_now_ns();
		int64_t left_ms;

		if (atomic_load(&srv->stopping))
			return -ETIMEDOUT;
		left_ms = now >= deadline_ns ? 0 : (int64_t)((deadline_ns - now) / 1000000);
		if (left_ms > WAIT_SLICE_MS)
			left_ms = WAIT_SLICE_MS;
		if (store_events_wait(srv->cfg.store, since, left_ms, NULL) == 0)
			return 0;
		if (pvm_now_ns() >= deadline_ns)
			return -ETIMEDOUT;
	}
}

static json_object *event_json(const struct store_event *e)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "seq", json_object_new_int64(e->seq));
	json_object_object_add(o, "type", json_object_new_string(e->type));
	json_object_object_add(o, "subject",
			       e->subject[0] ? json_object_new_string(e->subject) : NULL);
	json_object_object_add(o, "payload", api_json_text(e->payload));
	json_object_object_add(o, "time_ms", json_object_new_int64(e->time_ms));
	return o;
}

struct sse {
	struct api_server *srv;
	int64_t since;
	uint64_t deadline_ns; /* 0: until the server stops */
	struct pvm_buf pending;
	size_t off;
};

/* MHD pulls the stream: hand out what is buffered, else wait for events. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;

	(void)pos;
	while (s->off >= s->pending.len) {
		struct store_event_list l = {0};
		uint64_t deadline;

		pvm_buf_reset(&s->pending);
		s->off = 0;
		if (atomic_load(&s->srv->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (s->deadline_ns && pvm_now_ns() >= s->deadline_ns)
			return MHD_CONTENT_READER_END_OF_STREAM;
		deadline = pvm_now_ns() + 15ull * 1000000000ull;
		if (s->deadline_ns && s->deadline_ns < deadline)
			deadline = s->deadline_ns;
		if (api_events_wait(s->srv, s->since, deadline) < 0) {
			/* A comment line keeps proxies from closing an idle stream. */
			if (!atomic_load(&s->srv->stopping))
				pvm_buf_printf(&s->pending, ": keep-alive\n\n");
			continue;
		}
		if (store_events_since(s->srv->cfg.store, s->since, 100, &l, NULL) < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		for (size_t i = 0; i < l.n; i++) {
			json_object *o = event_json(&l.items[i]);

			pvm_buf_printf(&s->pending, "id: %lld\nevent: %s\ndata: %s\n\n",
				       (long long)l.items[i].seq, l.items[i].type,
				       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
		}
		if (l.n)
			s->since = l.last_seq;
		store_event_list_free(&l);
		if (s->pending.failed)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	size_t n = s->pending.len - s->off;

	if (n > max)
		n = max;
	memcpy(buf, s->pending.data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;

	pvm_buf_free(&s->pending);
	free(s);
}

int api_h_events(struct api_req *rq, struct api_resp *rs)
{
	struct api_server *srv = rq->srv;
	const char *accept = api_header(rq, MHD_HTTP_HEADER_ACCEPT);
	const char *last_id = api_header(rq, "Last-Event-ID");
	struct store_event_list l = {0};
	struct pvm_err err = {0};
	uint64_t since, limit, deadline;
	json_object *items, *ans;
	int ret;

	if (api_query_u64(rq, rs, "since", 0, INT64_MAX, &since) < 0 ||
	    api_query_u64(rq, rs, "limit", 100, STORE_LIST_MAX, &limit) < 0 ||
	    api_query_wait(rq, rs, &deadline) < 0)
		return 0;
	if (limit == 0)
		return api_problem(rs, 400, API_P_INVALID, "?limit",
				   "query parameter limit must be between 1 and %d",
				   STORE_LIST_MAX);
	if (last_id && pvm_parse_int(last_id, 0, INT64_MAX, &(int64_t){0}) < 0)
		return api_problem(rs, 400, API_P_INVALID, "Last-Event-ID",
				   "Last-Event-ID must be an event sequence number");
	if (accept && strstr(accept, "text/event-stream")) {
		struct sse *s = calloc(1, sizeof(*s));
		int64_t last;

		if (!s)
			return -ENOMEM;
		s->srv = srv;
		s->since = (int64_t)since;
		if (last_id && pvm_parse_int(last_id, 0, INT64_MAX, &last) == 0)
			s->since = last;
		s->deadline_ns = api_query(rq, "wait") ? deadline : 0;
		pvm_buf_init(&s->pending);
		/* Tell the client the stream is open before the first event. */
		pvm_buf_printf(&s->pending, ": pvm events from %lld\n\n", (long long)s->since);
		rs->status = 200;
		rs->content_type = "text/event-stream";
		rs->stream = sse_read;
		rs->stream_cls = s;
		rs->stream_free = sse_free;
		return 0;
	}
	api_events_wait(srv, (int64_t)since, deadline);
	ret = store_events_since(srv->cfg.store, (int64_t)since, limit, &l, &err);
	if (ret < 0)
		return api_store_problem(rs, ret, &err);
	items = json_object_new_array_ext((int)l.n);
	for (size_t i = 0; i < l.n; i++)
		json_object_array_add(items, event_json(&l.items[i]));
	ans = json_object_new_object();
	json_object_object_add(ans, "events", items);
	json_object_object_add(ans, "last_seq", json_object_new_int64(l.last_seq));
	store_event_list_free(&l);
	api_json(rs, 200, ans);
	return 0;
}
