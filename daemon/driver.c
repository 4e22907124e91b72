/* SPDX-License-Identifier: MIT */
/* The driver table and what every driver shares. */
#include <errno.h>
#include <string.h>

#include "daemon/driver.h"

static const struct pvmd_driver_ops *const drivers[] = {
    &pvmd_driver_hv,
    &pvmd_driver_libvirt,
};

int pvmd_driver_open(const char *name, const char *uri, struct pvmd_driver *drv,
		     struct pvm_err *err)
{
	for (size_t i = 0; i < PVM_ARRAY_SIZE(drivers); i++) {
		int ret;

		if (strcmp(drivers[i]->name, name) != 0)
			continue;
		drv->ops = drivers[i];
		drv->priv = NULL;
		ret = drv->ops->open(uri, &drv->priv, err);
		if (ret < 0)
			drv->ops = NULL;
		return ret;
	}
	return pvm_err_set(err, -ENOENT, "unknown driver \"%s\"", name);
}

void pvmd_driver_close(struct pvmd_driver *drv)
{
	if (drv->ops)
		drv->ops->close(drv->priv);
	drv->ops = NULL;
	drv->priv = NULL;
}

const char *pvmd_guest_state_name(enum pvmd_guest_state state)
{
	static const char *const names[] = {
	    [PVMD_GUEST_UNKNOWN] = "unknown", [PVMD_GUEST_DEFINED] = "defined",
	    [PVMD_GUEST_RUNNING] = "running", [PVMD_GUEST_PAUSED] = "paused",
	    [PVMD_GUEST_STOPPED] = "stopped", [PVMD_GUEST_CRASHED] = "crashed",
	};

	if ((size_t)state >= PVM_ARRAY_SIZE(names))
		return "unknown";
	return names[state];
}

int pvmd_guest_name_check(const char *name, struct pvm_err *err)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > 63)
		return pvm_err_field(err, -EINVAL, "/name", "guest name must be 1 to 63 bytes");
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return pvm_err_field(err, -EINVAL, "/name",
					     "guest name may hold only letters, digits, '-', "
					     "'_' and '.'");
	}
	return 0;
}
