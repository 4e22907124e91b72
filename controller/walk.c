/* SPDX-License-Identifier: MIT */
/* Page-by-page walks over the store's hosts and guests. */
#include <string.h>

#include "controller/internal.h"

int controller_each_host(struct controller *c, controller_host_fn fn, void *arg,
			 struct pvm_err *err)
{
	char next[STORE_ID_MAX] = "";
	int ret;

	do {
		struct store_list_opts o = {.after = next[0] ? next : NULL,
					    .limit = STORE_LIST_MAX};
		struct store_host_list l = {0};

		ret = store_host_list(c->cfg.store, &o, &l, err);
		for (size_t i = 0; ret == 0 && i < l.n; i++)
			ret = fn(c, &l.items[i], arg);
		snprintf(next, sizeof(next), "%s", l.next);
		store_host_list_free(&l);
	} while (ret == 0 && next[0]);
	return ret < 0 ? ret : 0;
}

int controller_each_guest(struct controller *c, const struct store_list_opts *opts,
			  controller_guest_fn fn, void *arg, struct pvm_err *err)
{
	char next[STORE_ID_MAX] = "";
	int ret;

	do {
		struct store_list_opts o = *opts;
		struct store_guest_list l = {0};

		o.after = next[0] ? next : NULL;
		o.limit = STORE_LIST_MAX;
		ret = store_guest_list(c->cfg.store, &o, &l, err);
		for (size_t i = 0; ret == 0 && i < l.n; i++)
			ret = fn(c, &l.items[i], arg);
		snprintf(next, sizeof(next), "%s", l.next);
		store_guest_list_free(&l);
	} while (ret == 0 && next[0]);
	return ret < 0 ? ret : 0;
}
