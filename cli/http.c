/* SPDX-License-Identifier: MIT */
/*
 * The HTTP client: one libcurl easy handle per run, bearer token, CA file,
 * timeouts, Idempotency-Key on creates, If-Match where an ETag is known, and
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

#define MAX_RETRIES 2
#define RETRY_NS    200000000ull

/* Failures after which the server may or may not have acted. */
static bool ambiguous(CURLcode cc)
{
	return cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
	       cc == CURLE_PARTIAL_FILE;
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

static int idempotency_key(char *out, size_t len)
{
	unsigned char r[16];

	if (len < 2 * sizeof(r) + 1 || getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
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
static struct curl_slist *headers(const struct cli_ctx *ctx, const struct cli_req *opt, bool body)
{
	struct curl_slist *h = NULL;
	char line[256], key[40];
	bool ok;

	ok = add_header(&h, "Accept: application/json, application/problem+json");
	if (ok && body)
		ok = add_header(&h, "Content-Type: application/json");
	if (ok && opt->if_match && opt->if_match[0]) {
		snprintf(line, sizeof(line), "If-Match: %s", opt->if_match);
		ok = add_header(&h, line);
	}
	if (ok && opt->idempotency_key) {
		ok = idempotency_key(key, sizeof(key)) == 0;
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

int cli_request(struct cli_ctx *ctx, const char *method, const char *path, json_object *body,
		const struct cli_req *opt, struct cli_resp *resp)
{
	static const struct cli_req none;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	const char *text = NULL;
	struct pvm_buf line;
	char *url = NULL;
	long timeout;
	CURLcode cc;
	int ret;

	memset(resp, 0, sizeof(*resp));
	pvm_buf_init(&resp->body);
	pvm_buf_init(&line);
	if (!opt)
		opt = &none;
	timeout = opt->timeout_s ? opt->timeout_s : ctx->timeout_s;
	if (asprintf(&url, "%s%s", ctx->set.addr, path) < 0) {
		url = NULL;
		ret = cli_fail(ctx, CLI_EXIT_SERVER, "out of memory");
		goto out;
	}
	if (body)
		text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	hdrs = headers(ctx, opt, body != NULL);
	if (!hdrs) {
		ret = cli_fail(ctx, CLI_EXIT_SERVER, "cannot build the request's headers");
		goto out;
	}

	curl_easy_reset(ctx->curl);
	curl_easy_setopt(ctx->curl, CURLOPT_URL, url);
	curl_easy_setopt(ctx->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(ctx->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(ctx->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(ctx->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ctx->curl, CURLOPT_CONNECTTIMEOUT,
			 timeout > 0 && timeout < 10 ? timeout : 10L);
	curl_easy_setopt(ctx->curl, CURLOPT_TIMEOUT, timeout > 0 ? timeout : 0L);
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
	 * A create that lost its answer (the connection dropped after the
	 * request went out) is sent again with the same Idempotency-Key: the
	 * server replays its first answer instead of creating twice.
	 */
	for (int attempt = 0;; attempt++) {
		pvm_buf_reset(&resp->body);
		resp->etag[0] = '\0';
		cc = curl_easy_perform(ctx->curl);
		if (!opt->idempotency_key || attempt == MAX_RETRIES || !ambiguous(cc))
			break;
		pvm_sleep_ns(RETRY_NS);
	}
	if (cc != CURLE_OK) {
		ret = CLI_EXIT_UNREACHABLE;
		if (!ctx->quiet)
			cli_fail(ctx, ret, "cannot reach %s: %s", ctx->set.addr,
				 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(ctx->curl, CURLINFO_RESPONSE_CODE, &resp->status);
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
	free(url);
	return ret;
}
