/* SPDX-License-Identifier: MIT */
/* Host labels ("zone=a,disk=ssd") and guest label selectors ("zone=a,!spot"). */
#include <stdio.h>
#include <string.h>

#include "schedulers/internal.h"

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-' || c == '/';
}

/* Copies s[0..len) into out after checking it; allow_empty for values. */
static int copy_word(const char *what, const char *s, size_t len, bool allow_empty, char *out,
		     struct pvm_err *err)
{
	if (!len && !allow_empty)
		return pvm_err_set(err, -EINVAL, "empty label %s", what);
	if (len >= SCHED_ID_MAX)
		return pvm_err_set(err, -EINVAL, "label %s \"%.16s...\" longer than %d bytes", what,
				   s, SCHED_ID_MAX - 1);
	for (size_t i = 0; i < len; i++)
		if (!label_char(s[i]))
			return pvm_err_set(err, -EINVAL,
					   "label %s \"%.*s\": character '%c' not in "
					   "[A-Za-z0-9_./-]",
					   what, (int)len, s,
					   s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

/* Calls fn on each comma-separated item of s; "" has no items. */
static int each_item(const char *s, int (*fn)(void *arg, const char *item, size_t len), void *arg,
		     struct pvm_err *err)
{
	const char *p = s;

	if (!s)
		return pvm_err_set(err, -EINVAL, "no list");
	if (!*s)
		return 0;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		int rc = fn(arg, p, len);

		if (rc)
			return rc;
		if (!end)
			return 0;
		p = end + 1;
	}
}

struct label_parse {
	struct sched_label *labels;
	unsigned int max, n;
	struct pvm_err *err;
};

static int label_item(void *arg, const char *item, size_t len)
{
	struct label_parse *lp = arg;
	const char *eq = memchr(item, '=', len);
	struct sched_label l;
	int rc;

	if (!eq)
		return pvm_err_set(lp->err, -EINVAL, "label \"%.*s\" is not key=value",
				   (int)(len > 64 ? 64 : len), item);
	rc = copy_word("key", item, (size_t)(eq - item), false, l.key, lp->err);
	if (!rc)
		rc = copy_word("value", eq + 1, len - (size_t)(eq - item) - 1, true, l.value,
			       lp->err);
	if (rc)
		return rc;
	for (unsigned int i = 0; i < lp->n; i++)
		if (!strcmp(lp->labels[i].key, l.key))
			return pvm_err_set(lp->err, -EINVAL, "label key \"%s\" given twice", l.key);
	if (lp->n == lp->max)
		return pvm_err_set(lp->err, -E2BIG, "more than %u labels", lp->max);
	lp->labels[lp->n++] = l;
	return 0;
}

int sched_labels_parse(const char *s, struct sched_label *labels, unsigned int max, unsigned int *n,
		       struct pvm_err *err)
{
	struct label_parse lp = {.labels = labels, .max = max, .err = err};
	int rc = each_item(s, label_item, &lp, err);

	if (rc)
		return rc;
	*n = lp.n;
	return 0;
}

struct sel_parse {
	struct sched_selector_term *terms;
	unsigned int max, n;
	struct pvm_err *err;
};

static int sel_item(void *arg, const char *item, size_t len)
{
	struct sel_parse *sp = arg;
	struct sched_selector_term t = {0};
	const char *eq = memchr(item, '=', len);
	int rc;

	if (eq) {
		bool ne = eq > item && eq[-1] == '!';
		size_t klen = (size_t)(eq - item) - (ne ? 1 : 0);

		t.op = ne ? SCHED_SEL_NE : SCHED_SEL_EQ;
		rc = copy_word("key", item, klen, false, t.key, sp->err);
		if (!rc)
			rc = copy_word("value", eq + 1, len - (size_t)(eq - item) - 1, true,
				       t.value, sp->err);
	} else if (len && item[0] == '!') {
		t.op = SCHED_SEL_ABSENT;
		rc = copy_word("key", item + 1, len - 1, false, t.key, sp->err);
	} else {
		t.op = SCHED_SEL_EXISTS;
		rc = copy_word("key", item, len, false, t.key, sp->err);
	}
	if (rc)
		return rc;
	if (sp->n == sp->max)
		return pvm_err_set(sp->err, -E2BIG, "more than %u selector terms", sp->max);
	sp->terms[sp->n++] = t;
	return 0;
}

int sched_selector_parse(const char *s, struct sched_selector_term *terms, unsigned int max,
			 unsigned int *n, struct pvm_err *err)
{
	struct sel_parse sp = {.terms = terms, .max = max, .err = err};
	int rc = each_item(s, sel_item, &sp, err);

	if (rc)
		return rc;
	*n = sp.n;
	return 0;
}

static const struct sched_label *find_label(const struct sched_label *labels, unsigned int n,
					    const char *key)
{
	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(labels[i].key, key))
			return &labels[i];
	return NULL;
}

bool sched_selector_match(const struct sched_selector_term *t, unsigned int n,
			  const struct sched_label *labels, unsigned int nlabels, char *reason,
			  size_t len)
{
	for (unsigned int i = 0; i < n; i++) {
		const struct sched_label *l = find_label(labels, nlabels, t[i].key);
		bool ok;

		switch (t[i].op) {
		case SCHED_SEL_EQ:
			ok = l && !strcmp(l->value, t[i].value);
			break;
		case SCHED_SEL_NE:
			ok = !l || strcmp(l->value, t[i].value);
			break;
		case SCHED_SEL_EXISTS:
			ok = l != NULL;
			break;
		default:
			ok = l == NULL;
			break;
		}
		if (ok)
			continue;
		if (reason) {
			if (t[i].op == SCHED_SEL_EQ && l)
				snprintf(reason, len, "label %s=%s, wanted %s", l->key, l->value,
					 t[i].value);
			else if (t[i].op == SCHED_SEL_EQ || t[i].op == SCHED_SEL_EXISTS)
				snprintf(reason, len, "no label %s", t[i].key);
			else if (t[i].op == SCHED_SEL_NE)
				snprintf(reason, len, "label %s=%s, wanted not %s", l->key,
					 l->value, t[i].value);
			else
				snprintf(reason, len, "has label %s, wanted none", t[i].key);
		}
		return false;
	}
	if (reason)
		snprintf(reason, len, "%u selector terms match", n);
	return true;
}
