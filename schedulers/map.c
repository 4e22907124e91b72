/* SPDX-License-Identifier: MIT */
/*
 * A string -> index map with open addressing and linear probing. It stores
 * indices only; keys are read back from the owner's records, so a record and
 * its key never disagree.
 */
#include <stdlib.h>
#include <string.h>

#include "schedulers/internal.h"

#define EMPTY	0u
#define DELETED UINT32_MAX

/* FNV-1a, 64 bit, then a splitmix64 avalanche so nearby ids spread: stable
 * across runs and platforms (tie-breaks depend on it). */
static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static uint64_t mix64(uint64_t h)
{
	h ^= h >> 30;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64_C(0x94d049bb133111eb);
	return h ^ (h >> 31);
}

uint64_t sched_id_hash(const char *id)
{
	return mix64(fnv1a(UINT64_C(0xcbf29ce484222325), id));
}

uint64_t sched_pair_hash(uint64_t guest_hash, uint64_t host_hash)
{
	return mix64(guest_hash ^ (host_hash * UINT64_C(0x9e3779b97f4a7c15)));
}

void sched_map_init(struct sched_map *m, const char *(*key_of)(const void *, uint32_t),
		    const void *owner)
{
	memset(m, 0, sizeof(*m));
	m->key_of = key_of;
	m->owner = owner;
}

void sched_map_free(struct sched_map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->used = m->live = 0;
}

/* Slot of key, or of the first free place on its probe path when absent. */
static uint32_t probe(const struct sched_map *m, const char *key, bool *found)
{
	uint32_t mask = m->cap - 1;
	uint32_t i = (uint32_t)sched_id_hash(key) & mask;
	uint32_t first_free = UINT32_MAX;

	for (;;) {
		uint32_t s = m->slots[i];

		if (s == EMPTY) {
			*found = false;
			return first_free != UINT32_MAX ? first_free : i;
		}
		if (s == DELETED) {
			if (first_free == UINT32_MAX)
				first_free = i;
		} else if (!strcmp(m->key_of(m->owner, s - 1), key)) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
}

static int grow(struct sched_map *m)
{
	uint32_t ncap = m->cap ? m->cap * 2 : 64;
	uint32_t *old = m->slots, ocap = m->cap;

	if (m->live * 2 < m->cap)
		ncap = m->cap; /* only tombstones: rehash in place size */
	if (ncap > (UINT32_C(1) << 30))
		return -ENOMEM;
	m->slots = calloc(ncap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -ENOMEM;
	}
	m->cap = ncap;
	m->used = m->live = 0;
	for (uint32_t i = 0; i < ocap; i++) {
		bool found;

		if (old[i] == EMPTY || old[i] == DELETED)
			continue;
		m->slots[probe(m, m->key_of(m->owner, old[i] - 1), &found)] = old[i];
		m->used++;
		m->live++;
	}
	free(old);
	return 0;
}

int64_t sched_map_get(const struct sched_map *m, const char *key)
{
	bool found;
	uint32_t i;

	if (!m->cap)
		return -1;
	i = probe(m, key, &found);
	return found ? (int64_t)m->slots[i] - 1 : -1;
}

int sched_map_put(struct sched_map *m, const char *key, uint32_t idx)
{
	bool found;
	uint32_t i;

	if ((m->used + 1) * 4 > m->cap * 3) {
		int rc = grow(m);

		if (rc)
			return rc;
	}
	i = probe(m, key, &found);
	if (found)
		return -EEXIST;
	if (m->slots[i] == EMPTY)
		m->used++;
	m->slots[i] = idx + 1;
	m->live++;
	return 0;
}

void sched_map_set(struct sched_map *m, const char *key, uint32_t idx)
{
	bool found;
	uint32_t i = probe(m, key, &found);

	if (found)
		m->slots[i] = idx + 1;
}

void sched_map_del(struct sched_map *m, const char *key)
{
	bool found;
	uint32_t i;

	if (!m->cap)
		return;
	i = probe(m, key, &found);
	if (found) {
		m->slots[i] = DELETED;
		m->live--;
	}
}
