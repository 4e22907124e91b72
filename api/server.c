/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server: libmicrohttpd with one thread per connection (long polls
 * and SSE streams block their own thread only), request bodies bounded while
 * they arrive, one access-log line per request and a graceful stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/internal.h"

#define API_DEFAULT_BODY_LIMIT (1u << 20)
/* How much of an oversize chunked body is drained before the connection is cut. */
#define API_DRAIN_FACTOR 8

static int read_file(const char *path, char **out, struct pvm_err *err)
{
	struct pvm_buf b;
	char chunk[4096];
	ssize_t n;
	int fd, ret = 0;

	pvm_buf_init(&b);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pvm_err_set(err, -errno, "open %s: %s", path, strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		pvm_buf_append(&b, chunk, (size_t)n);
	if (n < 0)
		ret = pvm_err_set(err, -errno, "read %s: %s", path, strerror(errno));
	else if (b.failed)
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
	else if (b.len == 0)
		ret = pvm_err_set(err, -EINVAL, "%s is empty", path);
	close(fd);
	if (ret < 0) {
		pvm_buf_free(&b);
		return ret;
	}
	*out = pvm_buf_steal(&b);
	return 0;
}

/* "ADDR:PORT" or "[ADDR6]:PORT". */
static int parse_listen(const char *s, struct sockaddr_storage *ss, struct pvm_err *err)
{
	char host[64];
	const char *colon;
	int64_t port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s)
		return pvm_err_field(err, -EINVAL, "listen", "listen address is empty");
	colon = strrchr(s, ':');
	if (!colon)
		return pvm_err_field(err, -EINVAL, "listen", "listen address %s lacks :PORT", s);
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return pvm_err_field(err, -EINVAL, "listen", "listen address %s is too long", s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (pvm_parse_int(colon + 1, 0, 65535, &port) < 0)
		return pvm_err_field(err, -EINVAL, "listen", "bad port in %s", s);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return pvm_err_field(err, -EINVAL, "listen", "bad IPv6 address in %s", s);
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return pvm_err_field(err, -EINVAL, "listen", "bad IPv4 address in %s", s);
	return 0;
}

static bool is_json_type(const char *ct)
{
	if (!ct)
		return false;
	return strncasecmp(ct, "application/json", 16) == 0 ||
	       strncasecmp(ct, "application/merge-patch+json", 28) == 0;
}

static enum MHD_Result queue(struct api_req *rq, struct api_resp *rs)
{
	struct MHD_Response *resp;
	enum MHD_Result r;
	const char *text = NULL;
	size_t len = 0;

	if (rs->stream) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, rs->stream,
							 rs->stream_cls, rs->stream_free);
		rs->stream_cls = NULL;
	} else {
		if (rs->body) {
			text = json_object_to_json_string_length(
			    rs->body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
			    &len);
		} else if (rs->raw) {
			text = rs->raw;
			len = rs->raw_len;
		}
		if (rs->raw && !rs->body) {
			/* Large raw answers (/metrics) are handed over, not copied. */
			resp = MHD_create_response_from_buffer(len, rs->raw, MHD_RESPMEM_MUST_FREE);
			if (resp)
				rs->raw = NULL;
		} else {
			resp = MHD_create_response_from_buffer(len, (void *)(text ? text : ""),
							       MHD_RESPMEM_MUST_COPY);
		}
	}
	if (!resp)
		return MHD_NO;
	if (rs->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
	else if (rs->body)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (rs->etag[0]) {
		char quoted[48];

		snprintf(quoted, sizeof(quoted), "\"%s\"", rs->etag);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, quoted);
	}
	if (rs->location[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, rs->location);
	if (rs->allow[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rs->allow);
	if (rs->status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					rs->www_authenticate ? rs->www_authenticate
							     : "Bearer realm=\"pvm\"");
	if (rs->stream)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	/* Every 503 is a store or a server that cannot answer now, not a refusal. */
	if (rs->status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, API_RETRY_AFTER_S);
	rq->status = rs->status;
	rq->resp_bytes = len;
	r = MHD_queue_response(rq->conn, rs->status, resp);
	MHD_destroy_response(resp);
	return r;
}

static void resp_free(struct api_resp *rs)
{
	json_object_put(rs->body);
	free(rs->raw);
	if (rs->stream_cls && rs->stream_free)
		rs->stream_free(rs->stream_cls);
}

static enum MHD_Result answer_problem(struct api_req *rq, unsigned status, enum api_problem kind,
				      const char *msg)
{
	struct api_resp rs = {0};
	enum MHD_Result r;

	api_problem(&rs, status, kind, NULL, "%s", msg);
	r = queue(rq, &rs);
	resp_free(&rs);
	return r;
}

/*
 * If-None-Match (RFC 9110 13.1.2): weak comparison against the answer's
 * ETag, "*" matching any; a list is comma-separated.
 */
static bool none_match(const char *h, const char *etag)
{
	size_t elen = strlen(etag);

	while (h && *h) {
		h += strspn(h, " \t,");
		if (*h == '*')
			return true;
		if (strncmp(h, "W/", 2) == 0)
			h += 2;
		if (h[0] == '"' && strncmp(h + 1, etag, elen) == 0 && h[elen + 1] == '"')
			return true;
		h = strchr(h, ',');
	}
	return false;
}

/* A GET whose answer the client holds (its ETag named) becomes a bodiless 304. */
static void not_modified(struct api_req *rq, struct api_resp *rs)
{
	if (rs->status != 200 || !rs->etag[0] || rs->stream ||
	    !none_match(api_header(rq, MHD_HTTP_HEADER_IF_NONE_MATCH), rs->etag))
		return;
	rs->status = 304;
	json_object_put(rs->body);
	rs->body = NULL;
	free(rs->raw);
	rs->raw = NULL;
	rs->raw_len = 0;
}

static enum MHD_Result dispatch(struct api_req *rq)
{
	struct api_resp rs = {0};
	enum MHD_Result r;

	rq->route = api_route_match(rq->method, rq->path, rq, rs.allow, sizeof(rs.allow));
	if (!rq->route) {
		if (rs.allow[0])
			api_problem(&rs, 405, API_P_METHOD, NULL, "%s is not allowed on %s",
				    rq->method, rq->path);
		else
			api_problem(&rs, 404, API_P_NOT_FOUND, NULL, "no route for %s", rq->path);
		goto send;
	}
	if (atomic_load(&rq->srv->stopping) && rq->route->has_query_wait) {
		api_problem(&rs, 503, API_P_UNAVAILABLE, NULL, "the server is stopping");
		goto send;
	}
	if (rq->route->roles != API_ROLE_PUBLIC &&
	    !(rq->srv->cfg.metrics_open && strcmp(rq->route->pattern, "/metrics") == 0)) {
		if (api_auth(rq, &rs) < 0)
			goto send;
		if (!(rq->role & rq->route->roles)) {
			api_problem(&rs, 403, API_P_FORBIDDEN, NULL, "role %s may not %s %s",
				    api_role_name(rq->role), rq->method, rq->route->pattern);
			goto send;
		}
	}
	if (rq->body.len && !is_json_type(api_header(rq, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		api_problem(&rs, 415, API_P_MEDIA_TYPE, NULL,
			    "request bodies must be application/json");
		goto send;
	}
	if (rq->route->fn(rq, &rs) < 0 && !rs.status)
		api_problem(&rs, 500, API_P_INTERNAL, NULL, "internal error");
	if (!rs.status)
		api_problem(&rs, 500, API_P_INTERNAL, NULL, "handler gave no answer");
	if (strcmp(rq->route->method, "GET") == 0)
		not_modified(rq, &rs);
send:
	r = queue(rq, &rs);
	resp_free(&rs);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api_server *srv = cls;
	struct api_req *rq = *con_cls;
	size_t limit = srv->cfg.body_limit;

	(void)version;
	if (!rq) {
		const char *cl;
		int64_t clen;

		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		rq->srv = srv;
		rq->conn = conn;
		rq->method = method;
		rq->path = url;
		rq->start_ns = pvm_now_ns();
		pvm_buf_init(&rq->body);
		atomic_fetch_add(&srv->in_flight, 1);
		*con_cls = rq;
		/* Refuse a declared oversize body before reading any of it. */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && pvm_parse_int(cl, 0, INT64_MAX, &clen) == 0 && (uint64_t)clen > limit) {
			rq->too_large = true;
			rq->done = true;
			return answer_problem(rq, 413, API_P_TOO_LARGE,
					      "the request body exceeds the body limit");
		}
		return MHD_YES;
	}
	if (*upload_size) {
		/*
		 * A body without a declared length that outgrows the limit: keep
		 * nothing more, drain it (libmicrohttpd answers only once the
		 * upload ends), and drop a client that keeps on sending.
		 */
		rq->body_seen += *upload_size;
		if (!rq->too_large && rq->body_seen > limit) {
			rq->too_large = true;
			pvm_buf_free(&rq->body);
		}
		if (rq->too_large && rq->body_seen > API_DRAIN_FACTOR * (uint64_t)limit)
			return MHD_NO;
		if (!rq->too_large)
			pvm_buf_append(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->done)
		return MHD_YES;
	rq->done = true;
	if (rq->too_large)
		return answer_problem(rq, 413, API_P_TOO_LARGE,
				      "the request body exceeds the body limit");
	if (rq->body.failed)
		return answer_problem(rq, 500, API_P_INTERNAL, "out of memory");
	return dispatch(rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_server *srv = cls;
	struct api_req *rq = *con_cls;
	uint64_t dur;

	(void)conn;
	if (!rq)
		return;
	dur = pvm_now_ns() - rq->start_ns;
	api_stats_record(srv, rq->route, rq->status, dur);
	pvm_log_info("access method=%s path=%s status=%u bytes=%zu dur_us=%llu role=%s%s",
		     rq->method, rq->path, rq->status, rq->resp_bytes,
		     (unsigned long long)(dur / 1000), api_role_name(rq->role),
		     toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
	pvm_buf_free(&rq->body);
	free(rq);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	pvm_logv(PVM_LOG_DEBUG, fmt, ap);
}

int api_server_start(const struct api_config *cfg, struct api_server **out, struct pvm_err *err)
{
	struct api_server *srv;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	int ret;

	*out = NULL;
	if (!cfg->store || !cfg->controller)
		return pvm_err_set(err, -EINVAL, "api: no store or no controller");
	ret = parse_listen(cfg->listen, &ss, err);
	if (ret < 0)
		return ret;
	if (!!cfg->tls_cert != !!cfg->tls_key)
		return pvm_err_field(err, -EINVAL, cfg->tls_cert ? "tls-key" : "tls-cert",
				     "--tls-cert and --tls-key go together");
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return pvm_err_set(err, -ENOMEM, "out of memory");
	srv->cfg = *cfg;
	if (!srv->cfg.body_limit)
		srv->cfg.body_limit = API_DEFAULT_BODY_LIMIT;
	if (!srv->cfg.heartbeat_s)
		srv->cfg.heartbeat_s = 10;
	if (!srv->cfg.max_wait_s)
		srv->cfg.max_wait_s = 60;
	if (!srv->cfg.grace_s)
		srv->cfg.grace_s = 10;
	pthread_mutex_init(&srv->tokcache_lock, NULL);
	srv->route_stats = calloc(api_nroutes + 1, sizeof(*srv->route_stats));
	if (!srv->route_stats) {
		ret = pvm_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (cfg->tls_cert) {
		ret = read_file(cfg->tls_cert, &srv->tls_cert_pem, err);
		if (ret < 0)
			goto fail;
		ret = read_file(cfg->tls_key, &srv->tls_key_pem, err);
		if (ret < 0)
			goto fail;
		flags |= MHD_USE_TLS;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (srv->tls_cert_pem)
		srv->mhd = MHD_start_daemon(
		    flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &ss,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT,
		    1000u, MHD_OPTION_CONNECTION_TIMEOUT, 300u, MHD_OPTION_EXTERNAL_LOGGER,
		    on_mhd_log, srv, MHD_OPTION_HTTPS_MEM_CERT, srv->tls_cert_pem,
		    MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key_pem, MHD_OPTION_END);
	else
		srv->mhd = MHD_start_daemon(
		    flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &ss,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT,
		    1000u, MHD_OPTION_CONNECTION_TIMEOUT, 300u, MHD_OPTION_EXTERNAL_LOGGER,
		    on_mhd_log, srv, MHD_OPTION_END);
	if (!srv->mhd) {
		ret =
		    pvm_err_set(err, -EADDRNOTAVAIL, "cannot listen on %s%s", cfg->listen,
				cfg->tls_cert ? " (or the TLS certificate or key is invalid)" : "");
		goto fail;
	}
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	*out = srv;
	return 0;
fail:
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	free(srv->tls_cert_pem);
	free(srv->tls_key_pem);
	free(srv->route_stats);
	pthread_mutex_destroy(&srv->tokcache_lock);
	free(srv);
	return ret;
}

uint16_t api_server_port(const struct api_server *srv)
{
	return srv->port;
}

void api_server_stop(struct api_server *srv)
{
	uint64_t deadline;
	MHD_socket lsock;

	if (!srv)
		return;
	atomic_store(&srv->stopping, true);
	lsock = MHD_quiesce_daemon(srv->mhd);
	deadline = pvm_now_ns() + (uint64_t)srv->cfg.grace_s * 1000000000ull;
	while (atomic_load(&srv->in_flight) > 0 && pvm_now_ns() < deadline)
		pvm_sleep_ns(5 * 1000 * 1000);
	if (atomic_load(&srv->in_flight) > 0)
		pvm_log_warn("api: %d requests still in flight after %u s; closing them",
			     atomic_load(&srv->in_flight), srv->cfg.grace_s);
	MHD_stop_daemon(srv->mhd);
	if (lsock != MHD_INVALID_SOCKET)
		close(lsock);
	free(srv->tls_cert_pem);
	free(srv->tls_key_pem);
	free(srv->route_stats);
	pthread_mutex_destroy(&srv->tokcache_lock);
	free(srv);
}
