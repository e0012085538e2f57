/* libhivex reads a registry hive file on the host. lcm downloads hives from an image through
 * libguestfs and walks them here, where one call costs microseconds instead of an appliance
 * round trip (about 2.5 ms under TCG), and edits them here before sending them back. */
#ifndef LCM_CHIVEX_SHIM_H
#define LCM_CHIVEX_SHIM_H

#include <hivex.h>

/* glibc declares memfd_create only under _GNU_SOURCE, and defining that here would make this
 * module's view of the system headers differ from other modules' (a clean build then fails on
 * fd_set); the declaration alone is enough. */
extern int memfd_create(const char *name, unsigned int flags);

/* An anonymous in-memory file: hives copied out of an image (SOFTWARE may hold secrets such as
 * an autologon password) never touch a disk on lcm's machine. 1 is MFD_CLOEXEC. */
static inline int lcm_hivex_memfd(const char *name) {
    return memfd_create(name, 1u);
}

#endif
