/* libhivex reads a registry hive file on the host. lcm downloads hives from an image through
 * libguestfs and walks them here, where one call costs microseconds instead of an appliance
 * round trip (about 2.5 ms under TCG). */
#ifndef LCM_CHIVEX_SHIM_H
#define LCM_CHIVEX_SHIM_H

#include <hivex.h>

#endif
