/* SPDX-License-Identifier: MIT */
/*
 * The HTTP client: one libcurl easy handle per run, bearer token, CA file,
 * timeouts, an Idempotency-Key on every mutating request, If-Match where an
 * ETag is known, failover across the controllers the settings list, and
 * every failure turned into one line on stderr and an exit code.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "cli/internal.h"

/* Answers are JSON documents; more than this is not a pvm controller. */
#define MAX_BODY (64u << 20)

/* A mutating request whose answer was lost is sent this often in all, the
 * list of controllers wrapped round, RETRY_NS apart on a URL tried before. */
#define LOST_ATTEMPTS 3
#define RETRY_NS      200000000ull
/* Each attempt connects within this, so a dead controller costs little of
 * the request's --timeout, which bounds every attempt together. */
#define CONNECT_MS 5000L

/* Failures after which the server may or may not have acted. */
static bool ambiguous(CURLcode cc)
{
	return cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
	       cc == CURLE_PARTIAL_FILE;
}

/* No answer from this controller: refused, reset, timed out, not found in
 * DNS, the TLS handshake cut. Another controller may answer. */
static bool unreachable(CURLcode cc)
{
	return ambiguous(cc) || cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_CONNECT ||
	       cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_SSL_CONNECT_ERROR;
}

/* 503: this controller cannot serve now (cut off from the store, stopping);
 * 421: it is the wrong one to ask. Both mean "ask another"; no other 4xx does. */
static bool try_elsewhere(long status)
{
	return status == 503 || status == 421;
}

static bool mutating(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct pvm_buf *b = arg;

	if (b->len + size * n > MAX_BODY)
		return 0;
	return pvm_buf_append(b, data, size * n) < 0 ? 0 : size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct cli_resp *resp = arg;
	size_t len = size * n;

	if (len > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		const char *v = data + 5;
		size_t vlen = len - 5;

		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen < sizeof(resp->etag)) {
			memcpy(resp->etag, v, vlen);
			resp->etag[vlen] = '\0';
		}
	}
	return len;
}

/*
 * The key of the command's next mutating request: 128 random bits made once
 * per command, and the request's number in it, so two requests of one
 * command (a PATCH sent again after 412) never share a key, while every
 * retry and failover of one request re-sends its own unchanged.
 */
static int idempotency_key(struct cli_ctx *ctx, char *out, size_t len)
{
	unsigned char r[16];

	if (!ctx->idem_base[0]) {
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return -EIO;
		for (size_t i = 0; i < sizeof(r); i++)
			snprintf(ctx->idem_base + 2 * i, 3, "%02x", r[i]);
	}
	snprintf(out, len, "%s-%u", ctx->idem_base, ++ctx->idem_seq);
	return 0;
}

const char *cli_addr(const struct cli_ctx *ctx)
{
	return ctx->set.addrs[ctx->addr_cur];
}

void cli_resp_free(struct cli_resp *resp)
{
	pvm_buf_free(&resp->body);
	json_object_put(resp->json);
	memset(resp, 0, sizeof(*resp));
}

char *cli_escape(struct cli_ctx *ctx, const char *s)
{
	char *e = curl_easy_escape(ctx->curl, s, 0);
	char *copy = e ? strdup(e) : NULL;

	curl_free(e);
	return copy;
}

static bool add_header(struct curl_slist **h, const char *line)
{
	struct curl_slist *t = curl_slist_append(*h, line);

	if (t)
		*h = t;
	return t != NULL;
}

/* The request's headers, or NULL when they cannot be built. */
static struct curl_slist *headers(struct cli_ctx *ctx, const struct cli_req *opt, bool body,
				  bool write)
{
	struct curl_slist *h = NULL;
	char line[256], key[48];
	bool ok;

	ok = add_header(&h, "Accept: application/json, application/problem+json");
	if (ok && body)
		ok = add_header(&h, "Content-Type: application/json");
	if (ok && opt->if_match && opt->if_match[0]) {
		snprintf(line, sizeof(line), "If-Match: %s", opt->if_match);
		ok = add_header(&h, line);
	}
	if (ok && write) {
		ok = idempotency_key(ctx, key, sizeof(key)) == 0;
		snprintf(line, sizeof(line), "Idempotency-Key: %s", ok ? key : "");
		ok = ok && add_header(&h, line);
	}
	if (ok && ctx->set.token) {
		char *auth;

		if (asprintf(&auth, "Authorization: Bearer %s", ctx->set.token) < 0) {
			ok = false;
		} else {
			ok = add_header(&h, auth);
			free(auth);
		}
	}
	if (!ok) {
		curl_slist_free_all(h);
		return NULL;
	}
	return h;
}

/* Why an attempt at URL i failed, for the last line and for --verbose. */
struct attempts {
	char why[CLI_MAX_ADDRS][CURL_ERROR_SIZE];
	bool answered; /* some controller answered, if only 503 */
	bool lost;     /* an answer was lost: the request may have been acted on */
};

static void note_failure(struct cli_ctx *ctx, struct attempts *at, const char *method,
			 const char *path, CURLcode cc, const char *errbuf, struct cli_resp *resp)
{
	char *why = at->why[ctx->addr_cur];
	struct pvm_buf line;

	pvm_buf_init(&line);
	if (cc == CURLE_OK) {
		cli_problem_describe(resp->status, resp->body.data, resp->body.len, &line);
		snprintf(why, CURL_ERROR_SIZE, "%s", line.data ? line.data : "HTTP 503");
		at->answered = true;
	} else {
		at->lost = at->lost || ambiguous(cc);
		snprintf(why, CURL_ERROR_SIZE, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	pvm_buf_free(&line);
	if (ctx->verbose)
		fprintf(stderr, "%s: %s %s%s: %s\n", ctx->prog, method, cli_addr(ctx), path, why);
}

/* "cannot reach URL: why; URL: why" for every controller that failed. */
static int unreachable_error(struct cli_ctx *ctx, const struct attempts *at)
{
	int ret = at->answered ? CLI_EXIT_SERVER : CLI_EXIT_UNREACHABLE;
	struct pvm_buf msg;

	if (ctx->quiet)
		return ret;
	pvm_buf_init(&msg);
	for (size_t i = 0; i < ctx->set.naddrs; i++)
		if (at->why[i][0])
			pvm_buf_printf(&msg, "%s%s: %s", msg.len ? "; " : "", ctx->set.addrs[i],
				       at->why[i]);
	cli_fail(ctx, ret, "cannot reach %s", msg.data ? msg.data : "the controller");
	pvm_buf_free(&msg);
	return ret;
}

/*
 * One attempt at the current controller, within what is left of the
 * request's time (deadline 0: no limit).
 */
static CURLcode attempt(struct cli_ctx *ctx, const char *path, uint64_t deadline,
			struct cli_resp *resp)
{
	long left_ms = 0, connect_ms = CONNECT_MS;
	char *url;
	CURLcode cc;

	if (deadline) {
		uint64_t now = pvm_now_ns();

		if (now >= deadline)
			return CURLE_OPERATION_TIMEDOUT;
		left_ms = (long)((deadline - now) / 1000000) + 1;
		connect_ms = left_ms < CONNECT_MS ? left_ms : CONNECT_MS;
	}
	if (asprintf(&url, "%s%s", cli_addr(ctx), path) < 0)
		return CURLE_OUT_OF_MEMORY;
	curl_easy_setopt(ctx->curl, CURLOPT_URL, url);
	curl_easy_setopt(ctx->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(ctx->curl, CURLOPT_TIMEOUT_MS, left_ms);
	pvm_buf_reset(&resp->body);
	resp->etag[0] = '\0';
	resp->status = 0;
	cc = curl_easy_perform(ctx->curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(ctx->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	free(url);
	return cc;
}

int cli_request(struct cli_ctx *ctx, const char *method, const char *path, json_object *body,
		const struct cli_req *opt, struct cli_resp *resp)
{
	static const struct cli_req none;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	bool write = mutating(method);
	struct attempts at = {0};
	const char *text = NULL;
	uint64_t deadline = 0;
	struct pvm_buf line;
	long timeout;
	CURLcode cc;
	int ret;

	memset(resp, 0, sizeof(*resp));
	pvm_buf_init(&resp->body);
	pvm_buf_init(&line);
	if (!opt)
		opt = &none;
	timeout = opt->timeout_s ? opt->timeout_s : ctx->timeout_s;
	if (timeout > 0)
		deadline = pvm_now_ns() + (uint64_t)timeout * 1000000000ull;
	if (body)
		text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	hdrs = headers(ctx, opt, body != NULL, write);
	if (!hdrs) {
		ret = cli_fail(ctx, CLI_EXIT_SERVER, "cannot build the request's headers");
		goto out;
	}

	curl_easy_reset(ctx->curl);
	curl_easy_setopt(ctx->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(ctx->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(ctx->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(ctx->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ctx->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(ctx->curl, CURLOPT_USERAGENT, "pvmctl/" PVM_VERSION);
	curl_easy_setopt(ctx->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(ctx->curl, CURLOPT_WRITEDATA, &resp->body);
	curl_easy_setopt(ctx->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(ctx->curl, CURLOPT_HEADERDATA, resp);
	if (ctx->set.cacert)
		curl_easy_setopt(ctx->curl, CURLOPT_CAINFO, ctx->set.cacert);
	if (text) {
		curl_easy_setopt(ctx->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(ctx->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	}

	/*
	 * The controllers in order from the one that answered last, each once;
	 * a mutating request that lost its answer goes round again, up to
	 * LOST_ATTEMPTS in all. Its Idempotency-Key stays the same throughout,
	 * so a create the first controller made before it died is answered by
	 * the next as a replay, not made twice.
	 */
	for (size_t n = 1;; n++) {
		errbuf[0] = '\0';
		cc = attempt(ctx, path, deadline, resp);
		if (!unreachable(cc) && !(cc == CURLE_OK && try_elsewhere(resp->status)))
			break;
		note_failure(ctx, &at, method, path, cc, errbuf, resp);
		if (n >= ctx->set.naddrs && !(write && at.lost && n < LOST_ATTEMPTS))
			break;
		if (deadline && pvm_now_ns() >= deadline)
			break;
		ctx->addr_cur = (ctx->addr_cur + 1) % ctx->set.naddrs;
		if (n >= ctx->set.naddrs)
			pvm_sleep_ns(RETRY_NS);
	}
	if (cc != CURLE_OK) {
		if (!unreachable(cc))
			note_failure(ctx, &at, method, path, cc, errbuf, resp);
		ret = unreachable_error(ctx, &at);
		goto out;
	}
	if (ctx->verbose)
		fprintf(stderr, "%s: %s %s%s: HTTP %ld\n", ctx->prog, method, cli_addr(ctx), path,
			resp->status);
	if (resp->status < 200 || resp->status >= 300) {
		ret = cli_problem_describe(resp->status, resp->body.data, resp->body.len, &line);
		if (resp->status != opt->quiet_status && !ctx->quiet)
			cli_fail(ctx, ret, "%s", line.data ? line.data : "error");
		goto out;
	}
	ret = CLI_EXIT_OK;
	if (resp->body.len) {
		struct pvm_err err = {0};
		struct pvm_json_limits lim = {MAX_BODY, 64};

		if (pvm_json_parse(resp->body.data, resp->body.len, &lim, &resp->json, &err) < 0)
			ret = cli_fail(ctx, CLI_EXIT_SERVER, "the server's answer is not JSON: %s",
				       err.msg);
	}
out:
	pvm_buf_free(&line);
	curl_slist_free_all(hdrs);
	return ret;
}
