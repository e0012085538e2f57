/* Bridges the parts of <guestfs.h> that Swift cannot import directly:
 * variadic functions (wrapped as static inline functions over the fixed
 * or _argv forms) and function-like macros (re-exported as static consts). */
#ifndef LCM_CGUESTFS_SHIM_H
#define LCM_CGUESTFS_SHIM_H

#include <guestfs.h>
#include <stdint.h>
#include <stdlib.h>

/* guestfs_create_flags is variadic. NO_ENVIRONMENT: the caller applies every
 * setting explicitly, nothing is read from LIBGUESTFS_* variables. */
static inline guestfs_h *lcm_guestfs_create_no_environment(void) {
    return guestfs_create_flags(GUESTFS_CREATE_NO_ENVIRONMENT);
}

/* Optional-argument bitmasks (defined with UINT64_C, so not importable). */
static const uint64_t LCM_GUESTFS_ADD_DRIVE_OPTS_READONLY_BITMASK = GUESTFS_ADD_DRIVE_OPTS_READONLY_BITMASK;
static const uint64_t LCM_GUESTFS_ADD_DRIVE_OPTS_FORMAT_BITMASK = GUESTFS_ADD_DRIVE_OPTS_FORMAT_BITMASK;
static const uint64_t LCM_GUESTFS_ADD_DRIVE_OPTS_LABEL_BITMASK = GUESTFS_ADD_DRIVE_OPTS_LABEL_BITMASK;
static const uint64_t LCM_GUESTFS_ADD_DRIVE_OPTS_PROTOCOL_BITMASK = GUESTFS_ADD_DRIVE_OPTS_PROTOCOL_BITMASK;
static const uint64_t LCM_GUESTFS_ADD_DRIVE_OPTS_SERVER_BITMASK = GUESTFS_ADD_DRIVE_OPTS_SERVER_BITMASK;
static const uint64_t LCM_GUESTFS_ADD_DRIVE_OPTS_CACHEMODE_BITMASK = GUESTFS_ADD_DRIVE_OPTS_CACHEMODE_BITMASK;
static const uint64_t LCM_GUESTFS_ADD_DRIVE_OPTS_DISCARD_BITMASK = GUESTFS_ADD_DRIVE_OPTS_DISCARD_BITMASK;

static const uint64_t LCM_GUESTFS_MKFS_OPTS_LABEL_BITMASK = GUESTFS_MKFS_OPTS_LABEL_BITMASK;

static const uint64_t LCM_GUESTFS_HIVEX_OPEN_WRITE_BITMASK = GUESTFS_HIVEX_OPEN_WRITE_BITMASK;
static const uint64_t LCM_GUESTFS_HIVEX_OPEN_UNSAFE_BITMASK = GUESTFS_HIVEX_OPEN_UNSAFE_BITMASK;

/* Event classes that libguestfs prints on stderr when nobody listens. */
static const uint64_t LCM_GUESTFS_EVENT_APPLIANCE = GUESTFS_EVENT_APPLIANCE;
static const uint64_t LCM_GUESTFS_EVENT_LIBRARY = GUESTFS_EVENT_LIBRARY;
static const uint64_t LCM_GUESTFS_EVENT_TRACE = GUESTFS_EVENT_TRACE;
static const uint64_t LCM_GUESTFS_EVENT_WARNING = GUESTFS_EVENT_WARNING;

#endif
