/* SPDX-License-Identifier: MIT */
/*
 * A small cache of authenticated tokens, keyed by the SHA-256 of the secret
 * (never the secret), so a request does not cost a store read to
 * authenticate. Revocation through any controller sharing the store drops
 * the entry as soon as this one's controller reads the event
 * (api_server_event); host binding through this server drops it at once,
 * through another within API_TOKCACHE_TTL_NS. An entry never outlives its
 * token's expiry.
 */
#include <string.h>

#include <gnutls/crypto.h>

#include "api/internal.h"
#include "store/store.h"

#define API_TOKCACHE_TTL_NS (10ull * 1000000000ull)

void api_tokcache_hash(const char *secret, unsigned char out[32])
{
	gnutls_hash_fast(GNUTLS_DIG_SHA256, secret, strlen(secret), out);
}

static struct api_tok_entry *slot(struct api_server *srv, const unsigned char h[32])
{
	return &srv->tokcache[h[0] % API_TOKCACHE_SLOTS];
}

bool api_tokcache_get(struct api_server *srv, const unsigned char h[32], struct api_req *rq)
{
	struct api_tok_entry *e;
	bool hit = false;

	pthread_mutex_lock(&srv->tokcache_lock);
	e = slot(srv, h);
	if (e->expires_ns > pvm_now_ns() && memcmp(e->hash, h, 32) == 0) {
		rq->role = e->role;
		memcpy(rq->token_id, e->token_id, sizeof(rq->token_id));
		memcpy(rq->token_host, e->token_host, sizeof(rq->token_host));
		hit = true;
	}
	pthread_mutex_unlock(&srv->tokcache_lock);
	return hit;
}

void api_tokcache_put(struct api_server *srv, const unsigned char h[32], const struct api_req *rq)
{
	uint64_t now = pvm_now_ns(), until = now + API_TOKCACHE_TTL_NS;
	int64_t wall = (int64_t)pvm_wall_ns();
	int64_t left_ms = rq->token_expires_ms - wall / 1000000;
	struct api_tok_entry *e;

	if (rq->token_expires_ms && left_ms <= 0)
		return;
	if (rq->token_expires_ms && (uint64_t)left_ms <= API_TOKCACHE_TTL_NS / 1000000ull) {
		/* To the nanosecond: the token is expired at its expires_ms, and whole
		 * milliseconds left would keep the entry up to 1 ms longer. */
		int64_t left_ns = rq->token_expires_ms * 1000000 - wall;

		if (left_ns <= 0)
			return;
		until = now + (uint64_t)left_ns;
	}
	pthread_mutex_lock(&srv->tokcache_lock);
	e = slot(srv, h);
	memcpy(e->hash, h, 32);
	e->role = rq->role;
	memcpy(e->token_id, rq->token_id, sizeof(e->token_id));
	memcpy(e->token_host, rq->token_host, sizeof(e->token_host));
	e->expires_ns = until;
	pthread_mutex_unlock(&srv->tokcache_lock);
}

void api_tokcache_forget(struct api_server *srv, const char *token_id)
{
	pthread_mutex_lock(&srv->tokcache_lock);
	for (size_t i = 0; i < API_TOKCACHE_SLOTS; i++)
		if (strcmp(srv->tokcache[i].token_id, token_id) == 0)
			srv->tokcache[i].expires_ns = 0;
	pthread_mutex_unlock(&srv->tokcache_lock);
}

void api_server_event(const struct store_event *ev, void *arg)
{
	if (strcmp(ev->type, STORE_EV_TOKEN_REVOKED) == 0)
		api_tokcache_forget(arg, ev->subject);
}
